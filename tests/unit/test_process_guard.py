"""The guard behind `make test-fast`: a test without the `integration` mark cannot start a
process (tests/support/process_guard.py), one with it can."""
import multiprocessing
import subprocess
import sys

import pytest


@pytest.mark.parametrize("start", [
    lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
    lambda: multiprocessing.get_context("spawn").Process(target=print).start(),
], ids=["subprocess", "multiprocessing"])
def test_an_unmarked_test_cannot_start_a_process(start, request):
    with pytest.raises(pytest.fail.Exception, match="not marked @pytest.mark.integration") as err:
        start()
    assert request.node.nodeid in str(err.value)


def test_an_unmarked_test_cannot_start_a_celery_worker(app):
    # what celery.contrib.testing.worker.start_worker builds (after setting up Celery's logging,
    # which would outlive this test: the worker itself is asked for here)
    from celery.worker import WorkController

    with pytest.raises(pytest.fail.Exception, match="a Celery worker"):
        WorkController(app=app.extensions["celery"], pool_cls="solo")


@pytest.mark.integration
def test_a_marked_test_can():
    assert subprocess.run([sys.executable, "-c", "print('ok')"], capture_output=True,
                          text=True, check=True).stdout == "ok\n"
