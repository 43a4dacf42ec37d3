"""Bodies the real `web` process (gunicorn, Procfile line) refuses without reading them.

Each request declares a 200 MB body and sends none of it: an answer at all shows the server
decided from the headers (a server reading the body would wait, and the request would time
out). Chunked bodies, which declare no length, are cut one byte past the limit.
"""
import json

import pytest

from tests.support.web import procfile_web

pytestmark = pytest.mark.integration     # the Procfile's web process (gunicorn)

KEY = "s3cret-gateway-key-0042"
ADMIN = "admin-token-for-the-limits-test"
HUGE = 200 * 1024 * 1024
FORM = b"Content-Type: application/x-www-form-urlencoded\r\n"
JSON = b"Content-Type: application/json\r\n"


@pytest.fixture(scope="module")
def web(settings, app, tmp_path_factory):
    with procfile_web(settings, tmp_path_factory.mktemp("web-limits"),
                      {"FSCTI_CLI_KEYS": KEY, "FSCTI_ADMIN_TOKEN": ADMIN}) as server:
        yield server


def declared(target: str, headers: bytes = b"", length: int = HUGE) -> bytes:
    return (f"POST {target} HTTP/1.1\r\nHost: fscti\r\nConnection: close\r\n"
            f"Content-Length: {length}\r\n").encode() + headers + b"\r\n"


def chunked(target: str, headers: bytes, size: int) -> bytes:
    return (f"POST {target} HTTP/1.1\r\nHost: fscti\r\nConnection: close\r\n"
            f"Transfer-Encoding: chunked\r\n").encode() + headers + (
        f"\r\n{size:x}\r\n".encode() + b"a" * size + b"\r\n0\r\n\r\n")


def test_cli_decides_from_the_headers(web):
    r = web.send(declared("/cli", FORM))
    assert (r.status, r.body) == (413, b"-ERR fscti: the form is larger than 16384 bytes\n")
    r = web.send(declared("/cli?key=wrong-key-123", FORM))
    assert (r.status, r.body) == (401, b"-ERR fscti: invalid key\n")
    assert web.send(declared(f"/cli?key={KEY}&cmd=status", FORM)).status == 413
    r = web.send(chunked("/cli", FORM, 20000))
    assert (r.status, r.body) == (413, b"-ERR fscti: the form is larger than 16384 bytes\n")


def test_the_api_authenticates_before_it_reads(web):
    r = web.send(declared("/api/v1/domains", JSON))
    assert r.status == 401 and json.loads(r.body)["error"] == "unauthorized"
    auth = f"Authorization: Bearer {ADMIN}\r\n".encode()
    for target, kind in [("/api/v1/domains", JSON),
                         ("/api/v1/domains/x.example.com/extensions/import",
                          b"Content-Type: text/csv\r\n")]:
        r = web.send(declared(target, kind + auth))
        assert r.status == 413, (target, r.body)
        assert json.loads(r.body) == {
            "error": "content_too_large", "details": {"max_content_length": 16 * 1024 * 1024},
            "message": "the request body is larger than 16777216 bytes (web.max_content_length)"}
