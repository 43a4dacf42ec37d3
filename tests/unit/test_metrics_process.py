"""The multiprocess directory's housekeeping (app/metrics/process.py), on real files and real
processes: live gauges of pids that no longer run are removed (at start and before a scrape);
counters and histograms of ended processes stay; files of running processes are never touched."""
import os
import subprocess
import sys

import pytest

from app.metrics import process

pytestmark = pytest.mark.integration     # dead pids come from real (short-lived) processes


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_prepare_creates_the_directory_and_removes_only_dead_processes_live_gauges(
        tmp_path, monkeypatch):
    path = tmp_path / "metrics"
    monkeypatch.setenv(process.ENV, str(path))
    assert process.prepare() == str(path) and path.is_dir()
    gone, me = dead_pid(), os.getpid()
    for name in (f"counter_{gone}.db", f"histogram_{gone}.db", f"gauge_livemax_{gone}.db",
                 f"gauge_livesum_{gone}.db", f"counter_{me}.db", f"gauge_livesum_{me}.db",
                 "notes.txt"):
        (path / name).write_bytes(b"x")
    process.prepare()
    # a dead process's counters stay (removing them would look like a counter reset)
    assert sorted(p.name for p in path.iterdir()) == sorted([
        f"counter_{gone}.db", f"histogram_{gone}.db", f"counter_{me}.db",
        f"gauge_livesum_{me}.db", "notes.txt"])


def test_prune_drops_live_gauges_of_dead_pids_and_keeps_their_counters(tmp_path, monkeypatch):
    monkeypatch.setenv(process.ENV, str(tmp_path))
    gone, me = dead_pid(), os.getpid()
    for name in (f"counter_{gone}.db", f"gauge_livemax_{gone}.db", f"gauge_livesum_{gone}.db",
                 f"gauge_max_{gone}.db", f"gauge_livemax_{me}.db"):
        (tmp_path / name).write_bytes(b"x")
    process.prune_live_gauges()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{gone}.db", f"gauge_max_{gone}.db", f"gauge_livemax_{me}.db"])


def test_without_the_variable_nothing_is_written(monkeypatch):
    monkeypatch.delenv(process.ENV, raising=False)
    assert process.directory() is None and process.prepare() is None
    process.prune_live_gauges()  # no directory: nothing to do, no error
    process.mark_dead(os.getpid())
