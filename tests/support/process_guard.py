"""Every test that starts a process carries the `integration` mark (`make test-fast` leaves
those out), and this guard keeps it so: while a test without the mark runs (its fixtures
included), starting a process fails that test, naming it.

Refused: subprocess (redis-server, gunicorn, the listener, `celery worker`: everything
tests.eslpeer.procs.running and tests.support start), os.fork / posix_spawn, multiprocessing,
and Celery's in-process test worker (celery.contrib.testing.worker.start_worker).
"""
from __future__ import annotations

import functools
import multiprocessing.process
import os
import subprocess

import pytest

_current: list = [None]       # the running test item while it has no `integration` mark


def _refuse(what: str) -> None:
    item = _current[0]
    if item is not None:
        pytest.fail(f"{item.nodeid} starts a process ({what}) but is not marked "
                    "@pytest.mark.integration (make test-fast must start none)", pytrace=True)


def _guarded(fn, what: str):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _refuse(what)
        return fn(*args, **kwargs)
    return wrapper


def install() -> None:
    """Wrap the process-starting calls once per session (pytest_configure)."""
    subprocess.Popen._execute_child = _guarded(subprocess.Popen._execute_child, "subprocess")
    os.fork = _guarded(os.fork, "os.fork")
    for name in ("posix_spawn", "posix_spawnp"):
        if hasattr(os, name):
            setattr(os, name, _guarded(getattr(os, name), f"os.{name}"))
    base = multiprocessing.process.BaseProcess
    base.start = _guarded(base.start, "multiprocessing")
    try:
        from celery.worker import WorkController
    except ImportError:          # pragma: no cover - celery is a dependency
        return
    WorkController.__init__ = _guarded(WorkController.__init__, "a Celery worker")


def watching(item) -> None:
    """From now on, refuse processes unless `item` is marked integration."""
    _current[0] = None if item.get_closest_marker("integration") else item


def done() -> None:
    _current[0] = None
