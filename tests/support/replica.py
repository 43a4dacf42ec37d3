"""Real processes for the replica tests: the Procfile's `replica` process and gunicorn
serving the app with `directory.replica` on, both pointed at one private redis-server."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from app.replica import store

ROOT = Path(__file__).resolve().parents[2]


class ReplicaProc:
    """`python -m workers.replica` for one host name and file."""

    def __init__(self, env: dict, log: Path):
        self.env, self.log_path = env, log
        self.proc = None
        self.start()

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "workers.replica"], env=self.env, cwd=ROOT,
                                     stdout=self.log, stderr=self.log)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


class FileWatch:
    """This test process's read-only view of a replica file (LMDB: one per process)."""

    def __init__(self, path: str):
        self.path = path
        self.env = None

    def meta(self) -> dict:
        if self.env is None:
            if not os.path.exists(os.path.join(self.path, "data.mdb")):
                return {"trusted": False}
            self.env = store.open_reader(self.path)
        return store.meta(self.env)

    def wait(self, trusted: bool, timeout: float, why: str = "") -> float:
        """Seconds until the file's trust is `trusted`; fails after `timeout`."""
        t0 = time.monotonic()
        while self.meta()["trusted"] != trusted:
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"replica file not {'trusted' if trusted else 'distrusted'} "
                                     f"after {timeout} s {why}")
            time.sleep(0.005)
        return time.monotonic() - t0

    def close(self):
        if self.env is not None:
            self.env.close()

