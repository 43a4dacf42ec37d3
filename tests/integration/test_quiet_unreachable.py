"""No FreeSWITCH reachable (the `make run` default when none runs): the listener, a worker and
beat keep retrying, and say so with one WARNING per node per `unreachable_log_interval`, never
a traceback (real processes, a closed port, short intervals set by the settings)."""
import re
import time

import pytest

from tests.eslpeer.procs import (PIPELINE_FAST, PYTHON, listener_cmd, log_text, process_env,
                                 running, wait_for, worker_cmd)
from tests.support.net import HeldPort

pytestmark = pytest.mark.integration

INTERVAL = 3.0
# start-up and shutdown lines that are not about FreeSWITCH (running as root in CI; the pool
# children get SIGTERM when the test stops the worker)
NOT_OURS = re.compile(r"SecurityWarning|running the worker with superuser|signal 15 \(SIGTERM\)")


def beat_cmd(schedule) -> list[str]:
    return [PYTHON, "-m", "celery", "-A", "workers.celery_app", "beat", "--loglevel", "INFO",
            "--schedule", str(schedule)]


def warnings(text: str) -> list[str]:
    return [line for line in text.splitlines()
            if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line) and not NOT_OURS.search(line)]


def test_an_unreachable_node_is_one_warning_per_interval_and_no_traceback(
        app, settings, tmp_path, rdb):
    import redis as redis_lib

    redis_lib.Redis.from_url(settings.celery_broker_url).delete("events", "celery")
    dead = HeldPort()                     # refuses, and nobody else can start listening there
    env = process_env(settings, tmp_path, nodes=[("fs1", (dead.host, dead.port, "ClueCon"))],
                      config={"state": {"resync_interval": 1}},
                      extra=dict(PIPELINE_FAST, FSCTI_UNREACHABLE_LOG_INTERVAL=str(INTERVAL)))
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "beat", "listener")}
    with dead, running(worker_cmd(queues="events,celery"), env, logs["worker"]), \
            running(beat_cmd(tmp_path / "beat-schedule"), env, logs["beat"]), \
            running(listener_cmd(), env, logs["listener"]):
        celery = app.extensions["celery"]
        t0 = time.monotonic()
        for name in ("1001", "1002", "1003"):          # cache flushes that cannot be sent
            celery.send_task("fscti.directory.flush_cache", args=["quiet.example", [name]])
        # the resync of the beat tick (every 5 s, resync_interval 1 s) fails too
        wait_for(lambda: "fscti.state.resync" in log_text(logs["worker"]), 30,
                 what="a periodic resync", log=logs["worker"])
        wait_for(lambda: log_text(logs["worker"]).count("Retry in") >= 3, 30,
                 what="flush retries", log=logs["worker"])
        wait_for(lambda: time.monotonic() - t0 > 4 * INTERVAL, 30, what="a few intervals")
        elapsed = time.monotonic() - t0
        # read while they run: the teardown SIGTERMs each process group, which can kill a
        # prefork child mid-task (billiard then logs WorkerLostError); that is the harness's
        # stop, not what an unreachable node makes fscti log
        text = {name: log_text(path) for name, path in logs.items()}
    everything = "\n".join(text.values())
    assert "Traceback" not in everything, everything[-6000:]
    said = warnings(everything)
    assert said, everything[-4000:]
    assert all("fs1: FreeSWITCH unreachable" in line or "fs1: cannot connect to FreeSWITCH" in line
               for line in said), said
    # one per interval between all three processes (+1: a window may open as they stop)
    assert 2 <= len(said) <= elapsed / INTERVAL + 2, (elapsed, said)
    assert text["worker"].count("Retry in") >= 3          # the flushes did keep retrying
