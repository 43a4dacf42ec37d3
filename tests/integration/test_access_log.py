"""gunicorn as the Procfile's `web` line runs it never writes a /cli key to its logs.

The key travels in the query string (`/cli?key=...`, mod_cti's form); the access log keeps
the path only. The Procfile's own arguments are used, with the bind replaced by a socket
bound here to port 0 and one worker.
"""
import http.client
import shlex
import subprocess
import sys
import time
from pathlib import Path

from tests.eslpeer.procs import ROOT, process_env, stop
from tests.support.net import listening_socket

KEY = "s3cret-gateway-key-0042"


def procfile_web_args() -> list[str]:
    line = next(entry for entry in (ROOT / "Procfile").read_text().splitlines()
                if entry.startswith("web:"))
    args = shlex.split(line.partition(":")[2])
    assert args[0] == "gunicorn"
    return args


def _with(args: list[str], option: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(option) + 1] = value
    return out


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_the_access_log_has_paths_without_query_strings(settings, tmp_path, app):
    sock = listening_socket()
    port = sock.getsockname()[1]
    args = _with(_with(procfile_web_args(), "--bind", f"fd://{sock.fileno()}"), "--workers", "1")
    args[0] = str(Path(sys.executable).parent / "gunicorn")
    env = process_env(settings, tmp_path, extra={"FSCTI_CLI_KEYS": KEY})
    log_path = tmp_path / "web.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, pass_fds=[sock.fileno()], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    sock.close()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(port, "/healthz") == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.1)
        # No FreeSWITCH node is configured: the gateway answers 503, after the key check.
        assert _get(port, f"/cli?key={KEY}&cmd=status") == 503
        assert _get(port, f"/cli?cmd=status&key={KEY}x") == 401
        assert _get(port, "/api/v1/domains?q=needle-in-query") == 401
        deadline = time.monotonic() + 10
        while log_path.read_text().count('"GET /cli HTTP/1.1"') < 2:
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.05)
    finally:
        stop(proc)
    text = log_path.read_text()
    assert '"GET /cli HTTP/1.1" 503' in text and '"GET /cli HTTP/1.1" 401' in text
    assert '"GET /api/v1/domains HTTP/1.1" 401' in text
    assert KEY not in text and "key=" not in text and "needle-in-query" not in text
