"""A throwaway Sentinel-managed Redis on loopback: a master, a replica and three sentinels
(real redis-server and redis-sentinel processes, Debian's packages), for the failover tests.

    with SentinelCluster() as c:          # all up, the sentinels know each other and the replica
        url = c.url(db=1)                 # redis+sentinel://127.0.0.1:p1,...,p3/fscti-test/1
        c.kill_master()                   # SIGKILL: the sentinels promote the replica
        c.wait_failover()                 # returns once every sentinel names the new master

Failover is quick on purpose: down-after-milliseconds 1000, failover-timeout 3000.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis as redis_lib

from tests.support.net import LOOPBACK, HeldPort
from tests.support.redis_server import START_TIMEOUT, RedisServer

MASTER = "fscti-test"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000

needs_sentinel = pytest.mark.skipif(
    not (shutil.which("redis-server") and shutil.which("redis-sentinel")),
    reason="redis-server / redis-sentinel not installed (scripts/ensure_sentinel.sh)")


class SentinelProc:
    """One redis-sentinel with its own config file (sentinel rewrites it)."""

    def __init__(self, directory: Path, master_port: int, quorum: int = 2):
        self._held: HeldPort | None = HeldPort()
        self.port = self._held.port
        self.dir = directory
        self.conf = directory / f"sentinel-{self.port}.conf"
        self.log = directory / f"sentinel-{self.port}.log"
        self.conf.write_text("\n".join([
            f"port {self.port}", f"bind {LOOPBACK}", "daemonize no", f"dir {directory}",
            f"logfile {self.log}", "sentinel resolve-hostnames no",
            f"sentinel monitor {MASTER} {LOOPBACK} {master_port} {quorum}",
            f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {MASTER} 1", ""]))
        self.proc: subprocess.Popen | None = None

    def start(self) -> "SentinelProc":
        self.proc = subprocess.Popen(["redis-sentinel", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        probe = self.client()
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-sentinel on {self.port} exited:\n{self.tail()}")
                try:
                    if int(probe.info("server")["process_id"]) == self.proc.pid:
                        break
                except redis_lib.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-sentinel on {self.port} did not answer:\n{self.tail()}")
                time.sleep(0.02)
        finally:
            probe.close()
        self._held.release()
        self._held = None
        return self

    def client(self) -> redis_lib.Redis:
        return redis_lib.Redis(host=LOOPBACK, port=self.port, socket_timeout=2,
                               socket_connect_timeout=2, decode_responses=True)

    def master_port(self) -> int | None:
        try:
            found = self.client().execute_command("SENTINEL", "get-master-addr-by-name", MASTER)
        except redis_lib.RedisError:
            return None
        return int(found[1]) if found else None

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._held is not None:
            self._held.release()
            self._held = None


class SentinelCluster:
    """Master + replica redis-server and three sentinels (quorum 2), all on loopback."""

    def __init__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="fscti-sentinel-")
        self.dir = Path(self._tmp.name)
        self.master = RedisServer(directory=self.dir / "a")
        self.replica: RedisServer | None = None
        self.sentinels: list[SentinelProc] = []

    def start(self) -> "SentinelCluster":
        (self.dir / "a").mkdir()
        (self.dir / "b").mkdir()
        self.master.start()
        self.replica = RedisServer("--replicaof", LOOPBACK, str(self.master.port),
                                   "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
                                   directory=self.dir / "b").start()
        self.servers = {self.master.port: self.master, self.replica.port: self.replica}
        self.sentinels = [SentinelProc(self.dir, self.master.port).start() for _ in range(3)]
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Every sentinel sees the master, the replica (in sync) and the two other sentinels."""
        deadline = time.monotonic() + timeout
        while True:
            ok = self.replica.client().info("replication").get("master_link_status") == "up"
            for s in self.sentinels:
                try:
                    c = s.client()
                    m = c.sentinel_master(MASTER)
                    ok = ok and int(m["num-other-sentinels"]) == 2 and int(m["num-slaves"]) == 1
                except (redis_lib.RedisError, KeyError):
                    ok = False
            if ok:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the sentinels did not find each other and the replica:\n"
                                   + "\n".join(s.tail() for s in self.sentinels))
            time.sleep(0.1)

    def url(self, db: int = 0) -> str:
        hosts = ",".join(f"{LOOPBACK}:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{MASTER}/{db}"

    def master_port(self) -> int:
        return self.sentinels[0].master_port()

    def current(self) -> RedisServer:
        """The server the sentinels name as master now."""
        return self.servers[self.master_port()]

    def kill_master(self) -> int:
        """SIGKILL the current master; its port."""
        srv = self.current()
        srv.proc.kill()
        srv.proc.wait(5)
        srv.proc = None
        return srv.port

    def wait_failover(self, old_port: int, timeout: float = 30.0) -> float:
        """Seconds until every sentinel names another master, and that one says ROLE master."""
        t0 = time.monotonic()
        while True:
            ports = {s.master_port() for s in self.sentinels}
            if len(ports) == 1 and old_port not in ports and None not in ports:
                new = self.servers[ports.pop()]
                try:
                    if new.client().execute_command("ROLE")[0] in (b"master", "master"):
                        return time.monotonic() - t0
                except redis_lib.RedisError:
                    pass
            if time.monotonic() - t0 > timeout:
                raise AssertionError("no failover within %ss:\n%s" % (
                    timeout, "\n".join(s.tail() for s in self.sentinels)))
            time.sleep(0.05)

    def close(self) -> None:
        for s in self.sentinels:
            s.close()
        for srv in (self.replica, self.master):
            if srv is not None:
                srv.close()
        self._tmp.cleanup()

    def __enter__(self) -> "SentinelCluster":
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()
