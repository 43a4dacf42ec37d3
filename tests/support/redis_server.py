"""A throwaway redis-server for tests and benchmarks (never the machine's shared one).

Tests that stop Redis or count its work must not share the machine's Redis: other test runs
flush it, which also clears tracking caches. The server listens on a port held for it (see
tests.support.net): reserved before it starts, held again while it is stopped, so a restart
gets the same port and meanwhile every connection is refused, and nobody else can take it.

    with RedisServer() as srv:            # started; srv.url is redis://127.0.0.1:<port>/0
        srv.client().ping()
        srv.stop(); ...; srv.start()      # down (refused), then back on the same port, empty
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

START_TIMEOUT = 30.0     # a busy shared machine can be slow to start a process


def have_redis_server() -> bool:
    """Whether a redis-server binary is on PATH."""
    return shutil.which("redis-server") is not None


needs_redis_server = pytest.mark.skipif(not have_redis_server(), reason="redis-server not installed")


class RedisServer:
    """A private redis-server on a held loopback port, no persistence."""

    def __init__(self, *args: str, directory: Path | str | None = None):
        self.args = list(args)                 # extra redis-server options, e.g. --requirepass x
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="fscti-redis-")
        self.dir = Path(directory or self._tmp.name)
        self._held: HeldPort | None = HeldPort()
        self.host, self.port = self._held.host, self._held.port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """redis://127.0.0.1:<port>/0."""
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        """The URL of database `db` on this server."""
        return f"redis://{self.host}:{self.port}/{db}"

    def client(self, db: int = 0, **kw) -> redis_lib.Redis:
        """A redis-py client on this server (bytes unless decode_responses=True)."""
        return redis_lib.Redis(host=self.host, port=self.port, db=db, **kw)

    @property
    def log(self) -> Path:
        return self.dir / f"redis-{self.port}.log"

    def start(self) -> "RedisServer":
        """Start redis-server on the held port; return once it answers (the port is then its)."""
        if self.proc is not None:
            raise RuntimeError("redis-server is already running")
        if self._held is None:
            raise RuntimeError(f"port {self.port} was taken while redis-server was stopped")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", self.host, "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.dir),
             "--logfile", str(self.log), "--loglevel", "notice", *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self._wait_ready()
        except BaseException:
            self._terminate()
            raise
        self._held.release()                   # redis-server listens on it now
        self._held = None
        return self

    def _wait_ready(self) -> None:
        probe = self.client(socket_connect_timeout=2, socket_timeout=5,
                            password=_option(self.args, "--requirepass"))
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} exited with "
                                       f"{self.proc.returncode}:\n{self._log_tail()}")
                try:
                    pid = int(probe.info("server")["process_id"])
                except redis_lib.ConnectionError:
                    pid = None
                except redis_lib.BusyLoadingError:
                    pid = None
                if pid is not None:
                    if pid != self.proc.pid:   # cannot happen while the port is held: say so
                        raise RuntimeError(f"port {self.port} answered by redis pid {pid}, "
                                           f"not ours ({self.proc.pid})")
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {self.port} did not answer within "
                                       f"{START_TIMEOUT:g}s:\n{self._log_tail()}")
                time.sleep(0.02)
        finally:
            probe.close()

    def stop(self) -> None:
        """Stop redis-server (SIGTERM, nothing saved) and hold its port until start()."""
        if self.proc is None:
            return
        self._terminate()
        try:
            self._held = HeldPort(self.host, self.port)
        except OSError:
            self._held = None                  # start() says so; only a restart needs it

    def _terminate(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def close(self) -> None:
        """Stop the server and let its port and directory go."""
        self._terminate()
        if self._held is not None:
            self._held.release()
            self._held = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def _option(args: list[str], name: str) -> str | None:
    """The value given to `name` in redis-server's argument list, if any."""
    try:
        return args[args.index(name) + 1]
    except (ValueError, IndexError):
        return None


__all__ = ["LOOPBACK", "RedisServer", "have_redis_server", "needs_redis_server"]


def stamp_generation(srv: RedisServer, db: int = 0) -> None:
    """Start a data generation on a fresh private server (app.state.generation), as `flask
    mirror rebuild` does: without one, mirror writes are held back for the heal
    (app/mirror/lua/guard.lua)."""
    from app.state import generation

    with srv.client(db) as c:
        generation.stamp(c)


def heal_mirror(client) -> dict:
    """What the heal task does to the mirror of a Redis that came back empty, here and now
    (workers/tasks/heal.py without the nodes' resync): claim the heal, rebuild, mark healed."""
    from app.state import generation
    from workers.tasks.heal import rebuild_mirror

    claim = generation.check(client)  # None when a mirror write claimed it already
    marker = generation.current(client)
    assert marker["state"] == "healing" and marker["reason"] == "lost", marker
    done = rebuild_mirror(client, marker["id"])
    assert generation.healed(client, marker["id"])
    return dict(done, claimed_here=claim is not None)
