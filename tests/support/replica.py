"""Real processes for the replica tests: the Procfile's `replica` process and gunicorn
serving the app with `directory.replica` on, both pointed at one private redis-server."""
from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lxml import etree

from app.directory.form import encode
from app.replica import store
from tests.support.net import listening_socket

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


class Gunicorn:
    """gunicorn serving the app (`workers` sync workers) on a socket bound here."""

    def __init__(self, env: dict, log: Path, workers: int = 3):
        self.sock = listening_socket()
        self.port = self.sock.getsockname()[1]
        fd = self.sock.fileno()
        self.log = open(log, "wb")
        self.log_path = log
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"fd://{fd}", "--workers", str(workers),
             "app:create_app()"], env=env, cwd=ROOT, pass_fds=[fd], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.close()
        raise RuntimeError(f"gunicorn did not start: {log.read_text()[-2000:]}")

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def user(self, domain: str, user: str) -> dict | None:
        """The params of `user` in a sip_auth lookup's answer, None when it has no user."""
        body = encode([("hostname", "vm"), ("section", "directory"), ("tag_name", "domain"),
                       ("key_name", "name"), ("key_value", domain), ("Event-Name", "REQUEST_PARAMS"),
                       ("action", "sip_auth"), ("key", "id"), ("user", user), ("domain", domain)])
        status, data = self.request("POST", "/directory", body,
                                    {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200, (status, data)
        root = etree.fromstring(data)
        assert root.find("section/domain").get("name") == domain
        u = root.find("section/domain/users/user")
        if u is None:
            return None
        return {"id": u.get("id"), **{p.get("name"): p.get("value") for p in u.iterfind("params/param")}}

    def close(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()
        self.sock.close()
