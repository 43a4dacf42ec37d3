"""Console sign-in, sessions, CSRF and refusals, in-process (real SQL, real Redis)."""
import dataclasses
import json
import re

import pytest

from app import create_app
from app.extensions import db
from app.models import Action, AuditEntry
from app.models.token import ApiToken
from tests.support.actions import A5, call5_up, use_nodes
from tests.eslpeer import EslPeer


def plain(tokens, role):
    return tokens[role]["Authorization"].split(" ", 1)[1]


def login(client, token):
    page = client.get("/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/console/login", data={"token": token, "csrf": csrf})


def page_csrf(client):
    text = client.get("/console").get_data(as_text=True)
    return json.loads(re.search(r'<script id="console-config" type="application/json">(.*?)'
                                r'</script>', text).group(1))["csrf"]


def test_session_cookie_and_lifetime(app, client, tokens):
    r = login(client, plain(tokens, "viewer"))
    assert r.status_code == 303 and r.headers["Location"].endswith("/console")
    cookie = r.headers.getlist("Set-Cookie")[0]
    assert cookie.startswith("fscti_console=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Max-Age=28800" in cookie and "Secure" not in cookie
    assert client.get("/console").status_code == 200


def test_secure_cookie_behind_an_https_proxy(settings, tokens, app):
    proxied = create_app(dataclasses.replace(settings, trusted_proxies=1), TESTING=True)
    c = proxied.test_client()
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    page = c.get("/console/login", headers=headers)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    r = c.post("/console/login", data={"token": plain(tokens, "viewer"), "csrf": csrf},
               headers=headers)
    assert r.status_code == 303 and "Secure" in r.headers["Set-Cookie"]


def test_a_token_in_the_url_is_ignored(client, tokens):
    r = client.get(f"/console/login?token={plain(tokens, 'supervisor')}")
    assert r.status_code == 200 and "fscti_console=" not in r.headers.get("Set-Cookie", "")
    assert client.get("/console").status_code == 303


def test_revoking_the_token_ends_the_session(app, client, tokens):
    login(client, plain(tokens, "supervisor"))
    assert client.get("/console").status_code == 200
    with app.app_context():
        row = db.session.execute(db.select(ApiToken).filter_by(name="test-supervisor")).scalar_one()
        row.revoked = True
        db.session.commit()
    assert client.get("/console").status_code == 303
    assert client.get("/console/stream?domain=127.0.0.1").status_code == 401


def test_sign_out_needs_the_csrf_and_ends_the_session(client, tokens):
    login(client, plain(tokens, "viewer"))
    client.post("/console/logout", data={"csrf": "forged"})
    login_again = client.get("/console")
    assert login_again.status_code == 303   # the browser drops its cookie; the session stays
    login(client, plain(tokens, "viewer"))
    csrf = page_csrf(client)
    assert client.post("/console/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/console").status_code == 303


@pytest.mark.parametrize("path", [f"/console/api/calls/{A5}/hangup",
                                  f"/console/api/calls/{A5}/supervise",
                                  f"/console/api/supervisions/{A5}/mode"])
def test_a_viewer_cannot_act_even_with_its_csrf(app, client, tokens, path):
    login(client, plain(tokens, "viewer"))
    r = client.post(path, json={"supervisor": "1003", "mode": "listen"},
                    headers={"X-CSRF-Token": page_csrf(client)})
    assert r.status_code == 403 and "supervisor role" in r.get_json()["message"]
    with app.app_context():
        assert db.session.execute(db.select(Action)).first() is None


def test_no_csrf_no_action(app, client, tokens):
    login(client, plain(tokens, "supervisor"))
    r = client.post(f"/console/api/calls/{A5}/hangup", json={})
    assert r.status_code == 403 and "CSRF" in r.get_json()["message"]
    assert client.post("/console/api/calls/x/hangup").status_code == 403


def test_bad_input_is_a_4xx_with_the_field(app, client, tokens, monkeypatch, settings):
    login(client, plain(tokens, "supervisor"))
    h = {"X-CSRF-Token": page_csrf(client)}
    r = client.post(f"/console/api/calls/{A5}/supervise", json={"supervisor": "10 03"},
                    headers=h)
    assert r.status_code == 422 and "supervisor" in r.get_json()["details"]
    r = client.post(f"/console/api/calls/{A5}/supervise", json={"supervisor": "1003",
                                                               "mode": "shout"}, headers=h)
    assert r.status_code == 422 and "mode" in r.get_json()["details"]
    r = client.post("/console/api/calls/not-a-uuid/hangup", json={}, headers=h)
    assert r.status_code == 400 and "uuid" in r.get_json()["details"]
    r = client.post(f"/console/api/calls/{A5}/hangup", data="[1]", headers=h,
                    content_type="application/json")
    assert r.status_code == 400
    r = client.post(f"/console/api/calls/{A5}/hangup", json={"cause": "BOOM; rm"}, headers=h)
    assert r.status_code == 422 and "cause" in r.get_json()["details"]
    assert client.get("/console?domain=a%20b").status_code == 400


def test_a_console_hangup_is_the_apis_action_and_audit(app, client, tokens, rdb, settings,
                                                        monkeypatch):
    with EslPeer() as fs1:
        use_nodes(monkeypatch, settings, fs1=fs1)
        call5_up(rdb, settings, "fs1")
        login(client, plain(tokens, "supervisor"))
        r = client.post(f"/console/api/calls/{A5}/hangup", json={"cause": "manager_request"},
                        headers={"X-CSRF-Token": page_csrf(client)})
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["kind"] == "hangup" and body["state"] in ("queued", "failed")
    with app.app_context():
        action = db.session.get(Action, body["id"])
        assert action.actor == "token:test-supervisor"
        entry = db.session.execute(db.select(AuditEntry)).scalar_one()
        assert (entry.actor, entry.what, entry.target) == ("token:test-supervisor", "hangup", A5)
    got = client.get(f"/console/api/actions/{body['id']}")
    assert got.status_code == 200 and got.get_json()["id"] == body["id"]
