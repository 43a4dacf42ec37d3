"""gunicorn serving the app in a child process, for tests that need several real workers."""
from __future__ import annotations

import http.client
import subprocess
import sys
import time
from pathlib import Path

from lxml import etree

from app.directory.form import encode
from tests.support.net import listening_socket

ROOT = Path(__file__).resolve().parents[2]


class Gunicorn:
    """gunicorn on a socket bound here to port 0 (handed over as fd://), started and healthy."""

    def __init__(self, env: dict, log: Path, workers: int = 3):
        self.sock = listening_socket()
        self.port = self.sock.getsockname()[1]
        fd = self.sock.fileno()
        self.log = open(log, "wb")
        self.log_path = log
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"fd://{fd}", "--workers", str(workers),
             "app:create_app()"], env=env, cwd=ROOT, pass_fds=[fd], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60     # workers importing the app on a busy machine
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
        """One request on a new TCP connection (as mod_xml_curl does)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def answer(self, domain: str, user: str):
        """The parsed answer (lxml root) of one sip_auth lookup of `user`@`domain`."""
        body = encode([("hostname", "vm"), ("section", "directory"), ("tag_name", "domain"),
                       ("key_name", "name"), ("key_value", domain), ("Event-Name", "REQUEST_PARAMS"),
                       ("action", "sip_auth"), ("key", "id"), ("user", user), ("domain", domain)])
        status, data = self.request("POST", "/directory", body,
                                    {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 200, (status, data)
        root = etree.fromstring(data)
        assert root.find("section/domain").get("name") == domain
        return root

    def user(self, domain: str, user: str) -> dict | None:
        """The id and params of `user` in a sip_auth lookup's answer, None when it has no user."""
        u = self.answer(domain, user).find("section/domain/users/user")
        if u is None:
            return None
        return {"id": u.get("id"), **{p.get("name"): p.get("value") for p in u.iterfind("params/param")}}

    def close(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()
        self.sock.close()
