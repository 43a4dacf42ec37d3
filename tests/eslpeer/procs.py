"""Real processes for integration tests: a Celery worker and the listener, pointed at peers.

    env = process_env(settings, tmp_path, nodes=[("fs1", peer)])
    with running(worker_cmd(queues="celery"), env, tmp_path / "worker.log") as proc:
        ...
"""
from __future__ import annotations

import json
import re
import os
import shlex
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON = sys.executable


def broker_url(redis_url: str, explicit: bool = True) -> str:
    """The tests' Celery broker: TEST_BROKER_URL (e.g. RabbitMQ, amqp://...), else the Redis
    database just below TEST_REDIS_URL's (always that one with explicit=False: the result
    backend, which stays on Redis).

    Never database 0 by default: that is REDIS_URL's default, where `make run` keeps real data,
    and the tests empty their broker's queues.
    """
    given = os.environ.get("TEST_BROKER_URL") if explicit else None
    if given:
        return given
    base, _, num = redis_url.rpartition("/")
    db = int(num or 0) - 1
    if db < 1:
        raise RuntimeError(f"TEST_REDIS_URL={redis_url}: its broker would be database {max(db, 0)}; "
                           "use a TEST_REDIS_URL database of 2 or more, or set TEST_BROKER_URL")
    return f"{base}/{db}"


def process_env(settings, tmp_path: Path, nodes=(), extra: dict | None = None,
                config: dict | None = None) -> dict:
    """Environment for a child process: the test's SQL, Redis, broker and FreeSWITCH nodes.

    `nodes` is a list of (name, EslPeer or (host, port, password)); they go into a cti.json
    written under tmp_path (FSCTI_CONFIG), with `config` merged into it.
    """
    data = dict(config or {})
    fs = []
    for name, peer in nodes:
        host, port, password = (peer if isinstance(peer, tuple)
                                else (peer.host, peer.port, peer.password))
        fs.append({"name": name, "host": host, "port": port, "password": password})
    data["freeswitch"] = fs
    cfg = tmp_path / f"cti-{time.monotonic_ns()}.json"
    cfg.write_text("/* written by tests */\n" + json.dumps(data, indent=1))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FSCTI_", "FREESWITCH_"))}
    env.update({
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "CELERY_BROKER_URL": settings.celery_broker_url,
        "CELERY_RESULT_BACKEND": settings.celery_result_backend,
        "FSCTI_CONFIG": str(cfg),
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
    })
    env.update(extra or {})
    return env


def worker_cmd(queues: str = "celery", concurrency: int = 2, pool: str = "prefork") -> list[str]:
    return [PYTHON, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q", queues,
            "-P", pool, "-c", str(concurrency), "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"test-{os.getpid()}@%h"]


def procfile_args(process: str) -> list[str]:
    """The Procfile line of `process` as argv, each ${VAR:-default} as its default."""
    line = next(entry for entry in (ROOT / "Procfile").read_text().splitlines()
                if entry.startswith(f"{process}:"))
    # ${VAR:-default} as a shell without VAR set expands it (honcho runs the line in a shell)
    return [re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", arg)
            for arg in shlex.split(line.partition(":")[2])]


def ingest_cmd(name: str = "") -> list[str]:
    """The Procfile's `ingest` line (Celery, solo pool, queue `events`), its node name made
    unique to this test run (`name` tells several apart)."""
    args = procfile_args("ingest")
    assert args[0] == "celery"
    at = args.index("-n")
    args[at + 1] = f"ingest-{os.getpid()}{name}@%h"
    return [PYTHON, "-m"] + args


def listener_cmd() -> list[str]:
    return [PYTHON, "-m", "workers.listener"]


@contextmanager
def running(cmd: list[str], env: dict, log_path: Path):
    """Start a process (its own process group), yield it, then stop it with SIGTERM/SIGKILL."""
    log = open(log_path, "ab")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        yield proc
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> int | None:
    """SIGTERM the process group, SIGKILL it if it lingers; returns the exit code."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition",
             log: Path | None = None):
    """Poll until truthy; raise AssertionError naming `what` (and showing `log`) otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = f"\n--- {log.name} ---\n{log_text(log)[-8000:]}" if log else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{tail}")
        time.sleep(interval)


def log_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


# Listener settings that keep pipeline tests quick: fast reconnects, 2 ms batches.
PIPELINE_FAST = {"FSCTI_LISTENER_BACKOFF_INITIAL": "0.05", "FSCTI_LISTENER_BACKOFF_MAX": "0.3",
                 "FSCTI_LISTENER_STATUS_INTERVAL": "0.5", "FSCTI_LISTENER_BATCH_DELAY_MS": "2",
                 "FSCTI_ESL_TIMEOUT": "2"}


@contextmanager
def state_pipeline(settings, tmp_path: Path, node: str, peer, rdb):
    """A real events worker and the listener for `peer` (as node `node`), running, subscribed
    and past the connect resync; yields the worker's log path."""
    from app.state import generation, keys

    # the test may have emptied Redis (a reference pass): not a data loss for the listener
    generation.stamp(rdb)
    env = process_env(settings, tmp_path, nodes=[(node, peer)], extra=PIPELINE_FAST)
    wlog, llog = tmp_path / "worker.log", tmp_path / "listener.log"
    with running(ingest_cmd(), env, wlog), running(listener_cmd(), env, llog):
        peer.wait_subscribed(timeout=20)
        wait_for(lambda: rdb.hget(keys.node(node), "resync_reason"), 30,
                 what="the connect resync", log=wlog)
        yield wlog
