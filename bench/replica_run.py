"""The Procfile's `replica` process (workers/replica.py) as the benchmarks run it: started on a
bench's Redis (bench.directory.Env), waited for until its file is trusted, measured, stopped."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ReplicaRun:
    """The Procfile's `replica` process on the bench's Redis; started, filled, stopped."""

    def __init__(self, env):
        """`env`: a bench.directory.Env (its Redis, environment and temporary directory)."""
        sys.path.insert(0, str(ROOT))
        from app.replica import store

        self.store = store
        self.path = env.tmp / "replica"
        self.log = open(env.tmp / "replica.log", "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "workers.replica"], env=env.env, cwd=ROOT,
                                     stdout=self.log, stderr=self.log)
        reader = None
        self.peak_own_mb = 0.0  # the most of its own memory seen while it filled (sampled)
        try:
            while True:
                if reader is None and (self.path / "data.mdb").exists():
                    reader = store.open_reader(str(self.path))
                if reader is not None and store.meta(reader)["trusted"]:
                    break
                if self.proc.poll() is not None or time.monotonic() - t0 > 900:
                    raise SystemExit(f"the replica did not fill; see {env.tmp / 'replica.log'}")
                self.peak_own_mb = max(self.peak_own_mb, self._status_mb().get("RssAnon", 0))
                time.sleep(0.05)
        except BaseException:
            self.close()  # never leave the process behind
            raise
        self.ready_seconds = time.monotonic() - t0
        self.meta = store.meta(reader)
        reader.close()

    def _status_mb(self) -> dict:
        out = {}
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
                    out[line.split(":")[0]] = round(int(line.split()[1]) / 1024, 1)
        except OSError:  # it just exited: the caller sees that
            pass
        return out

    def own_mb(self) -> dict:
        """The replica process's own memory, from /proc/<pid>/smaps: USS (private pages) and
        PSS of every mapping but the replica file's (its pages are the file, counted once per
        host in file_mb, whoever maps them)."""
        uss = pss = 0
        in_file = False
        for line in Path(f"/proc/{self.proc.pid}/smaps").read_text().splitlines():
            head = line.split()
            if head and not head[0].endswith(":"):  # a mapping's first line: range perms ... path
                in_file = line.endswith("/data.mdb")
            elif not in_file and head[0] in ("Private_Clean:", "Private_Dirty:"):
                uss += int(head[1])
            elif not in_file and head[0] == "Pss:":
                pss += int(head[1])
        return {"replica_uss_mb": round(uss / 1024, 1), "replica_pss_mb": round(pss / 1024, 1)}

    def memory(self) -> dict:
        """The file's allocated size and the replica process's memory, in MB: resident, its
        anonymous part, its own (USS without the file's pages), the peak resident (VmHWM, which
        counts the file's pages it touched) and the peak anonymous memory sampled while it filled."""
        data = self.path / "data.mdb"
        status = self._status_mb()
        # RssFile is the file's pages the process has mapped: the page cache, counted in file_mb
        return {"file_mb": round(data.stat().st_blocks * 512 / 2**20, 1),
                "replica_rss_mb": status.get("VmRSS", 0), "replica_anon_mb": status.get("RssAnon", 0),
                **self.own_mb(), "replica_hwm_mb": status.get("VmHWM", 0),
                "replica_fill_peak_anon_mb": max(self.peak_own_mb, status.get("RssAnon", 0))}

    def close(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()
