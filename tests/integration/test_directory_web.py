"""/directory through the real `web` process (gunicorn, Procfile line), where the WSGI
middleware app.directory.wsgi answers mod_xml_curl's requests before Flask.

The request mod_xml_curl sends (a POST with a Content-Length) takes the middleware's path; a
chunked body of the same form takes Flask's route: both must give the same bytes and headers.
The guard (credentials, allowlist), the 64 KiB limit decided from the header, the access log
line and the app's own log lines are the same on both paths.
"""
import base64

import pytest

from app.directory.form import encode
from tests.support.directory_lookup import BASE, add_ext, d  # noqa: F401  (d: users 1001-1003)
from tests.support.web import procfile_web

pytestmark = pytest.mark.integration     # the Procfile's gunicorn

CREDS = "fs:s3cret-directory-0042"
HOST = b"Host: fscti\r\nConnection: close\r\n"
FORM = b"Content-Type: application/x-www-form-urlencoded\r\n"
PAIRS = BASE + [("action", "sip_auth"), ("key", "id"), ("user", "1001"), ("domain", "127.0.0.1")]


@pytest.fixture(scope="module")
def web(settings, app, tmp_path_factory):
    with procfile_web(settings, tmp_path_factory.mktemp("directory-web"),
                      {"FSCTI_DIRECTORY_CREDENTIALS": CREDS,
                       "FSCTI_DIRECTORY_ALLOW": "127.0.0.0/8"}) as server:
        yield server


def auth(creds: str = CREDS) -> bytes:
    return b"Authorization: Basic " + base64.b64encode(creds.encode()) + b"\r\n"


def with_length(body: bytes, headers: bytes = b"") -> bytes:
    return (b"POST /directory HTTP/1.1\r\n" + HOST + FORM + headers
            + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


def chunked(body: bytes, headers: bytes = b"") -> bytes:
    return (b"POST /directory HTTP/1.1\r\n" + HOST + FORM + headers
            + b"Transfer-Encoding: chunked\r\n\r\n"
            + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")


def app_headers(head: bytes) -> list[bytes]:
    """The response's headers the app wrote (gunicorn adds Server, Date, Connection)."""
    lines = head.split(b"\r\n")
    return [lines[0]] + sorted(h for h in lines[1:]
                               if not h.lower().startswith((b"server:", b"date:", b"connection:")))


def test_a_lookup_answers_alike_on_both_paths(web, d):  # noqa: F811
    body = encode(PAIRS)
    fast = web.send(with_length(body, auth()))
    assert fast.status == 200
    assert b'<user id="1001"' in fast.body and b'name="password" value="1234"' in fast.body
    slow = web.send(chunked(body, auth()))
    assert (slow.status, slow.body) == (200, fast.body)
    assert app_headers(fast.head) == app_headers(slow.head) == [
        b"HTTP/1.1 200 OK", b"Content-Length: %d" % len(fast.body),
        b"Content-Type: text/xml; charset=utf-8"]
    text = web.wait_for_log('"POST /directory HTTP/1.1" 200', count=2)
    assert text.count(f'"POST /directory HTTP/1.1" 200 {len(fast.body)} "-"') == 2


def test_the_guard_refuses_alike_on_both_paths(web, d):  # noqa: F811
    body = encode(PAIRS)
    for send in (with_length, chunked):
        bad = web.send(send(body, auth("fs:wrong")))
        assert (bad.status, bad.body) == (401, b"unauthorized\n")
        assert app_headers(bad.head) == [
            b"HTTP/1.1 401 UNAUTHORIZED", b"Content-Length: 13",
            b"Content-Type: text/plain; charset=utf-8",
            b'WWW-Authenticate: Basic realm="fscti directory"']
        assert web.send(send(body)).status == 401
    text = web.wait_for_log("directory: bad or missing credentials from 127.0.0.1", count=4)
    assert text.count('"POST /directory HTTP/1.1" 401 13') == 4


def test_the_limit_is_decided_from_the_header(web, d):  # noqa: F811
    # 200 MB declared, none sent: an answer at all shows nothing waited for the body
    declared = (b"POST /directory HTTP/1.1\r\n" + HOST + FORM + auth()
                + b"Content-Length: 209715200\r\n\r\n")
    big = web.send(declared)
    assert (big.status, big.body) == (413, b"request too large\n")
    over = web.send(chunked(b"x" * 70000, auth()))
    assert (over.status, over.body) == (413, b"request too large\n")
    assert web.send(with_length(b"x" * 65536, auth())).status == 200  # at the limit: a form


def test_sql_answers_what_redis_lacks_on_the_middleware_path(web, d):  # noqa: F811
    # No app context exists there: the SQL fallback pushes its own (app.directory.lookup).
    add_ext(d, "1077", mirror=False, param={"password": "only-in-sql"})
    pairs = PAIRS[:-2] + [("user", "1077"), ("domain", "127.0.0.1")]
    r = web.send(with_length(encode(pairs), auth()))
    assert r.status == 200
    assert b'<user id="1077"' in r.body and b'name="password" value="only-in-sql"' in r.body
    web.wait_for_log("directory: 1077@127.0.0.1 is in SQL but not in Redis; repair queued")
