"""The Procfile's `web` process for integration tests: real gunicorn, spoken to over raw sockets.

    with procfile_web(settings, tmp_path, {"FSCTI_CLI_KEYS": KEY}) as web:
        status_line = web.send(b"GET /healthz HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n").status
        web.wait_for_log('"GET /healthz HTTP/1.1"')

The Procfile's own arguments are used, with the bind replaced by a socket bound here to port 0
and one worker; `log_atoms` appends atoms to the access-log format (e.g. the URL scheme).
"""
from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.eslpeer.procs import ROOT, process_env, procfile_args, stop, wait_for
from tests.support.net import listening_socket


def procfile_web_args(process: str = "web") -> list[str]:
    args = procfile_args(process)
    assert args[0] == "gunicorn"
    return args


def _with(args: list[str], option: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(option) + 1] = value
    return out


@dataclass
class Reply:
    status: int
    head: bytes
    body: bytes


@dataclass
class Web:
    port: int
    log_path: Path
    pid: int = 0            # gunicorn's master (its process group holds the workers)

    def get(self, path: str, headers: dict | None = None) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    def send(self, data: bytes, timeout: float = 10.0) -> Reply:
        """Send raw bytes, read until the server closes; a server still waiting for more
        (e.g. a body it meant to read) fails the test after `timeout` seconds."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(data)
            out = b""
            try:
                while chunk := sock.recv(65536):
                    out += chunk
            except TimeoutError:
                raise AssertionError(f"no complete answer within {timeout}s (got {out[:200]!r}) "
                                     f"to {data[:200]!r}") from None
        head, _, body = out.partition(b"\r\n\r\n")
        return Reply(int(head.split(b" ", 2)[1]), head, body)

    def log(self) -> str:
        return self.log_path.read_bytes().decode("utf-8", "backslashreplace")

    def wait_for_log(self, needle: str, count: int = 1) -> str:
        wait_for(lambda: self.log().count(needle) >= count, timeout=10,
                 what=f"{count} x {needle!r} in the web log", log=self.log_path)
        return self.log()


@contextmanager
def procfile_web(settings, tmp_path: Path, extra_env: dict | None = None, log_atoms: str = "",
                 workers: int = 1, process: str = "web", nodes=()):
    """The Procfile's `web` line (or another gunicorn line: `process`) on an ephemeral loopback
    port, yielding a Web; `workers` gunicorn workers; `nodes` as for process_env."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    args = _with(_with(procfile_web_args(process), "--bind", f"fd://{sock.fileno()}"),
                 "--workers", str(workers))
    args[0] = str(Path(sys.executable).parent / "gunicorn")
    if log_atoms:
        args = _with(args, "--access-logformat",
                     args[args.index("--access-logformat") + 1] + " " + log_atoms)
    env = process_env(settings, tmp_path, nodes=nodes, extra=extra_env)
    log_path = tmp_path / f"{process}-{time.monotonic_ns()}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, pass_fds=[sock.fileno()], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    sock.close()
    web = Web(port, log_path, proc.pid)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if web.get("/healthz") == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, web.log()[-3000:]
            time.sleep(0.1)
        yield web
    finally:
        stop(proc)
