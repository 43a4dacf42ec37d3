"""Bounded bodies: who is refused before a byte of the body is read, and with what.

The body here is a stream that fails the test if anything reads it, under a Content-Length
that declares 200 MB: an answer shows the decision came from the headers. (The real
gunicorn process, over sockets: tests/integration/test_web_limits.py.)
"""
import io

import pytest

KEY = "abc"           # the /cli key these tests configure (settings.cli_keys)
HUGE = 200 * 1024 * 1024


class Unreadable(io.RawIOBase):
    def readable(self):
        return True

    def readinto(self, b):
        raise AssertionError("the body was read")


def declared(client, path, mimetype="application/json", headers=None, length=HUGE):
    return client.post(path, content_type=mimetype, headers=headers or {},
                       environ_overrides={"wsgi.input": Unreadable(),
                                          "CONTENT_LENGTH": str(length)})


def test_an_unauthenticated_api_request_is_401_without_reading_its_body(client):
    for path in ("/api/v1/domains", "/api/v1/templates",
                 "/api/v1/domains/a.example.com/extensions/import",
                 "/api/v1/calls/7b12b60d-bb3e-4b17-9ee8-bc18e8ff15de/hangup"):
        r = declared(client, path)
        assert r.status_code == 401 and r.json["error"] == "unauthorized", path


def test_an_admin_body_over_the_limit_is_413_before_it_is_read(client, admin):
    for path, mimetype in [("/api/v1/domains", "application/json"),
                           ("/api/v1/domains/a.example.com/extensions/import", "text/csv"),
                           ("/api/v1/calls/7b12b60d-bb3e-4b17-9ee8-bc18e8ff15de/hangup",
                            "application/json")]:
        r = declared(client, path, mimetype, headers=admin)
        assert r.status_code == 413, (path, r.data)
        assert r.json == {"error": "content_too_large",
                          "message": "the request body is larger than 16777216 bytes "
                                     "(web.max_content_length)",
                          "details": {"max_content_length": 16777216}}


def test_the_limit_is_the_setting(client, admin, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 65536)
    body = b'{"name": "a.example.com", "realm": "' + b"a" * 70000 + b'"}'
    r = client.post("/api/v1/domains", data=body, content_type="application/json",
                    headers=admin)
    assert r.status_code == 413 and r.json["details"] == {"max_content_length": 65536}
    r = client.post("/api/v1/domains", data=body[:60000] + b'"}', content_type="application/json",
                    headers=admin)
    assert r.status_code == 422 and "realm" in r.json["details"]


# --- /cli: its own limit, and its key before its body ----------------------------------------

@pytest.fixture
def keys(monkeypatch, settings):
    monkeypatch.setattr(settings, "cli_keys", [KEY])


FORM = "application/x-www-form-urlencoded"


def test_cli_decides_from_the_headers(client, keys):
    r = declared(client, "/cli", FORM)
    assert (r.status_code, r.data) == (413, b"-ERR fscti: the form is larger than 16384 bytes\n")
    r = declared(client, "/cli?key=wrong-key-123", FORM)
    assert (r.status_code, r.data) == (401, b"-ERR fscti: invalid key\n")
    assert declared(client, f"/cli?key={KEY}&cmd=status", FORM).status_code == 413
    r = declared(client, "/cli?key=wrong-key-123", "multipart/form-data; boundary=x")
    assert r.status_code == 401


def test_cli_refuses_a_form_that_is_not_urlencoded(client, keys):
    r = client.post(f"/cli?key={KEY}", data={"cmd": "status"}, content_type="multipart/form-data")
    assert r.status_code == 415
    assert r.data == (b"-ERR fscti: send the form as application/x-www-form-urlencoded "
                      b"(or the fields in the query)\n")


@pytest.mark.parametrize("target, body, where", [
    ("/cli", f"key={KEY}&cmd=status&arg=\xff".encode("latin-1"), "form"),
    ("/cli", f"key={KEY}&cmd=status&arg=%ff".encode(), "form"),
    ("/cli", b"\xffkey=" + KEY.encode() + b"&cmd=status", "form"),
    (f"/cli?key={KEY}&cmd=status&arg=%C3%28", b"", "query string"),
])
def test_a_form_that_is_not_utf8_is_a_400_saying_so(client, keys, target, body, where):
    r = client.post(target, data=body, content_type=FORM)
    assert r.status_code == 400
    assert r.data == (f"-ERR fscti: the {where} is not UTF-8 (send every field UTF-8, "
                      f"percent-encoded)\n").encode()


def test_cli_fields_are_counted(client, keys):
    r = client.post("/cli", data="&".join(f"f{i}=1" for i in range(40)), content_type=FORM)
    assert (r.status_code, r.data) == (400, b"-ERR fscti: the form has more than 32 fields\n")
