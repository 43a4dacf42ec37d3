"""app.directory.wsgi: which /directory requests skip Flask, and what an unexpected error gives.

A fresh app (create_app, as gunicorn builds it) with a before_request hook that counts: the
middleware's requests never reach Flask's request machinery, the others (HEAD, chunked) do,
and both give the same answer. An error reading the body (a client gone mid-request) is
answered by the app's own error handler, as the Flask route's would be.
"""
import io
import logging

import pytest

from app import create_app
from app.directory.form import encode
from tests.support.directory_lookup import BASE, d  # noqa: F401  (the fixture: users 1001-1003)

PAIRS = BASE + [("action", "sip_auth"), ("key", "id"), ("user", "1001"), ("domain", "127.0.0.1")]
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def counted(settings, app):
    built = create_app(settings, TESTING=True)
    seen = []
    built.before_request(lambda: seen.append(1))
    yield built, seen
    app.extensions["celery"].set_current()      # the session app's Celery again
    app.extensions["celery"].set_default()


def chunked_post(client, body: bytes):
    """A body without Content-Length, as a chunked one reaches WSGI."""
    return client.post("/directory", input_stream=io.BytesIO(body), content_type=FORM,
                       headers={"Transfer-Encoding": "chunked"},
                       environ_overrides={"CONTENT_LENGTH": "", "wsgi.input_terminated": True})


def test_mod_xml_curl_requests_skip_flask_and_the_rest_do_not(counted, d):  # noqa: F811
    built, seen = counted
    client = built.test_client()
    body = encode(PAIRS)
    fast = client.post("/directory", data=body, content_type=FORM)
    got = client.get("/directory?" + body.decode())
    assert seen == []
    assert fast.status_code == got.status_code == 200 and b'<user id="1001"' in fast.data
    assert got.data == fast.data
    slow = chunked_post(client, body)
    assert seen == [1] and (slow.status_code, slow.data) == (200, fast.data)
    assert slow.headers["Content-Type"] == fast.headers["Content-Type"] == "text/xml; charset=utf-8"
    head = client.head("/directory?" + body.decode())
    assert seen == [1, 1] and head.status_code == 200 and head.data == b""
    assert client.post("/directory/raw-floor", data=body, content_type=FORM).status_code == 404
    assert seen == [1, 1, 1]  # benchmark only: not in front of Flask in production


class GoneClient:
    """wsgi.input of a client that closed its connection mid-body."""

    def read(self, *args):
        raise OSError("connection reset by peer")

    readline = read

    def tell(self):
        return 0

    def seek(self, *args):
        return 0


def test_an_unexpected_error_is_the_apps_json_500(counted, d, caplog):  # noqa: F811
    built, seen = counted
    client = built.test_client()
    with caplog.at_level(logging.ERROR, logger="app.errors"):
        r = client.post("/directory", input_stream=GoneClient(), content_type=FORM,
                        environ_overrides={"CONTENT_LENGTH": "100"})
    assert r.status_code == 500 and r.json == {
        "error": "internal_error", "message": "Internal error; see the server log", "details": {}}
    assert [rec.getMessage() for rec in caplog.records if rec.name == "app.errors"] == ["unhandled error"]
    assert seen == []  # the request context was made for the error handler only
