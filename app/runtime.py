"""Process-level tuning shared by the long-running processes (listener, Celery worker, web).

Garbage collection. A process that has built the app holds ~120,000 objects the cyclic
collector tracks (Flask, SQLAlchemy, Celery, marshmallow, our modules), and none of them is
ever garbage. CPython's full (generation 2) collection walks all of them: ~60 ms on this
project's 2-core CI machine, during which the process does nothing else. The listener and
the events worker allocate enough to trigger one every few seconds under load, so every
few seconds a batch of events waited ~60 ms more (the event benchmark's lag max).
`freeze_gc()` moves what exists after start-up into the permanent generation, which the
collector skips: a full collection then walks only what was created since (~0.01 ms).
Objects created later are collected as usual. Called once per process, after the app is
built (and, for forking servers, in each child: what the parent froze before fork stays
frozen and is not touched, which also keeps its memory pages shared).

The gunicorn hook: `gunicorn -c python:app.runtime ...` (Procfile `web`) loads this module
as gunicorn's config module, so `post_worker_init` below runs in each web worker once it
has loaded the app, and the two settings at the end (`logger_class`, `forwarded_allow_ips`)
apply to the web process.
"""
from __future__ import annotations

import gc
import logging

log = logging.getLogger("fscti")


def freeze_gc() -> int:
    """Collect once, then move every tracked object to the permanent generation; returns
    how many objects were frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("gc: %d start-up objects frozen", frozen)
    return frozen


def post_worker_init(worker) -> None:  # gunicorn server hook (see module docstring)
    freeze_gc()


def child_exit(server, worker) -> None:  # gunicorn server hook, in the master
    """A web worker ended: its live gauges leave the metrics sums (app/metrics/process.py).
    prometheus_client only, not app.metrics: the master must not create metric files."""
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# gunicorn settings (see the module docstring): the access log escapes what requests sent
# (app/access_log.py), and gunicorn itself trusts no peer's X-Forwarded-* / SCRIPT_NAME
# headers (its default trusts 127.0.0.1): fscti's `web.trusted_proxies` alone decides.
logger_class = "app.access_log.EscapingLogger"
forwarded_allow_ips = ""
