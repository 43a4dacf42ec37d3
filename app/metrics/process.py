"""The multiprocess directory of prometheus_client (`PROMETHEUS_MULTIPROC_DIR`).

Imported by app.metrics before prometheus_client itself: prometheus_client chooses between
in-memory and file-backed values when it is first imported, and the file-backed ones need the
directory to exist. Each fscti process of a host writes `<type>_<pid>.db` files there:

- at start (`prepare()`, run on import): the directory is created, and the live gauges of pids
  that no longer run are removed (a SIGKILLed process never said goodbye);
- when a process ends, `mark_dead(pid)` removes its live gauges at once (gunicorn's
  `child_exit` hook in app/runtime.py, Celery's `worker_process_shutdown` in
  workers/celery_app.py, the listener on its way out), so e.g. fscti_esl_connected never shows
  a dead listener's connection. /metrics prunes them too before reading.
- Counters and histograms of ended processes are kept on purpose: removing them would make
  every sum go down, which Prometheus reads as a counter reset and turns into a spike of the
  whole sum. They are emptied only when every fscti process of the host (re)starts
  (`make run` does it; in production an `ExecStartPre` of the unit that starts them all, or a
  tmpfs directory emptied at boot). Their number grows by one set per process restart.
"""
from __future__ import annotations

import glob
import os
import re

ENV = "PROMETHEUS_MULTIPROC_DIR"
_PID = re.compile(r"_(\d+)\.db$")


def directory() -> str | None:
    """The multiprocess directory, or None (in-memory values, this process only)."""
    return os.environ.get(ENV) or None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it runs
        return True
    return True


def prepare() -> str | None:
    """Create the directory; remove the live gauges of processes that are gone. Returns the path."""
    path = directory()
    if path is None:
        return None
    os.makedirs(path, exist_ok=True)
    prune_live_gauges()
    return path


def prune_live_gauges() -> None:
    """Remove the live-gauge files of dead pids (a SIGKILLed process never said goodbye)."""
    path = directory()
    if path is None:
        return
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        m = _PID.search(name)
        if m and not alive(int(m.group(1))):
            mark_dead(int(m.group(1)))


def mark_dead(pid: int) -> None:
    """A process of this host ended: its live gauges leave the sums now."""
    if directory() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


prepare()
