"""The logs of gunicorn as the Procfile's `web` line runs it: no /cli key, no forged line.

The key travels in the query string (`/cli?key=...`, mod_cti's form); the access log keeps
the path only. Whatever bytes a request carries (raw or percent-encoded NUL, CR, LF, quotes,
C1 controls in a header, a newline in a Basic user name), each request writes one line, and
every line of the log is one of gunicorn's or the app's own.
"""
import base64
import re

import pytest

from tests.support.web import procfile_web

pytestmark = pytest.mark.integration     # the Procfile's web process (gunicorn)

KEY = "s3cret-gateway-key-0042"
HOST = b"Host: fscti\r\nConnection: close\r\n"

# gunicorn's lines, the app's (app.logs.FORMAT), a traceback's (indented), the access log's
# (the Procfile's --access-logformat: no bare double quote inside a quoted field).
LINE = re.compile(
    r"\[\d{4}-\d\d-\d\d [\d:]+ [+-]\d{4}\] \[\d+\] \[[A-Z]+\] .*"
    r"|\d{4}-\d\d-\d\d [\d:,]+ [A-Z]+ [\w.]+: .*"
    r"|    .*"
    r'|\S+ - [^"\[]+ \[[^\]]+\] "[^"]*" \d{3} (\d+|-) "[^"]*" \d+ms')


@pytest.fixture(scope="module")
def web(settings, app, tmp_path_factory):
    with procfile_web(settings, tmp_path_factory.mktemp("access-log"),
                      {"FSCTI_CLI_KEYS": KEY}) as server:
        yield server


def test_the_access_log_has_paths_without_query_strings(web):
    # No FreeSWITCH node is configured: the gateway answers 503, after the key check.
    assert web.get(f"/cli?key={KEY}&cmd=status") == 503
    assert web.get(f"/cli?cmd=status&key={KEY}x") == 401
    assert web.get("/api/v1/domains?q=needle-in-query") == 401
    text = web.wait_for_log('"GET /cli HTTP/1.1"', count=2)
    text = web.wait_for_log('"GET /api/v1/domains HTTP/1.1" 401')
    assert '"GET /cli HTTP/1.1" 503' in text and '"GET /cli HTTP/1.1" 401' in text
    assert KEY not in text and "key=" not in text and "needle-in-query" not in text


FORGERIES = [
    # percent-encoded: gunicorn's %(U)s is the decoded path
    (b"GET /healthz%0a127.0.0.1%20-%20-%20FORGED1 HTTP/1.1\r\n" + HOST + b"\r\n", 404),
    (b"GET /healthz%0d%0a127.0.0.1%20-%20-%20FORGED2%00%22%5c%c2%85 HTTP/1.1\r\n" + HOST
     + b"\r\n", 404),
    # raw bytes in the request line: gunicorn refuses the request (its own warning line)
    (b"GET /healthz\x00FORGED3 HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    (b"GET /healthz\rFORGED4 HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    (b"GET /healthz\n127.0.0.1 - - FORGED5 HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    # a user agent that closes its quotes, with a C1 control (NEL) and a backslash
    (b"GET /healthz HTTP/1.1\r\n" + HOST + b'User-Agent: a" 200 0 "\x85FORGED6\\\r\n\r\n', 200),
    # %(u)s: the user name of a Basic header, decoded
    (b"GET /healthz HTTP/1.1\r\n" + HOST + b"Authorization: Basic "
     + base64.b64encode(b"FORGED7\n127.0.0.1 - - x:pw") + b"\r\n\r\n", 200),
]


def test_request_bytes_cannot_forge_or_garble_a_log_line(web):
    for request, status in FORGERIES:
        assert web.send(request).status == status, request
    text = web.wait_for_log("FORGED7")
    web.wait_for_log("FORGED6")
    lines = text.splitlines()   # splits on NEL and U+2028 too, as some readers do
    assert text.count("\n") == len(lines) and all(line.isprintable() for line in lines)
    assert [line for line in lines if not LINE.fullmatch(line)] == []
    # one line per request (gunicorn's warning about the bare LF does not repeat the line)
    assert {n: sum(f"FORGED{n}" in line for line in lines) for n in range(1, 8)} == {
        1: 1, 2: 1, 3: 1, 4: 1, 5: 0, 6: 1, 7: 1}
    assert not any(re.match(r"\S+ - - FORGED", line) for line in lines)
    assert '"GET /healthz\\x0a127.0.0.1 - - FORGED1 HTTP/1.1" 404' in text
    # the path's bytes as WSGI gives them (latin-1): C2 is a printable Â, 85 is NEL
    assert "\\x0d\\x0a127.0.0.1 - - FORGED2\\x00\\x22\\x5c\u00c2\\x85 HTTP/1.1" in text
    assert '"a\\x22 200 0 \\x22\\x85FORGED6\\x5c"' in text
    assert " - FORGED7\\x0a127.0.0.1 - - x [" in text
