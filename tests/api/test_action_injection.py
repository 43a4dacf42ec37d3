"""Every hostile value (facts §3.7) in every field and path part of the action API: a clear 4xx,
nothing reaches the event socket (the peer never even sees a connection), and the refusal
of an authenticated caller is audited."""
from urllib.parse import quote

import pytest

from app.extensions import db
from app.models import Action, AuditEntry
from tests.eslpeer import EslPeer
from tests.support.actions import A5, DOMAIN, call5_up, purge_actions_queue, use_nodes
from tests.support.hostile import HOSTILE

EXTRA = ["1003\n\napi system id", "1003\r\n\r\nbgapi system id", "1003\nJob-UUID: x",
         "1003\x00", "${system(id)}", "user/1003,user/1004", "1003|1004", "{a=b}1003",
         "1003)&system(id", "1003 XML default", "true,system:id", "NORMAL_CLEARING\n\nx"]
VALUES = HOSTILE + EXTRA


@pytest.fixture(scope="module")
def peer():
    with EslPeer() as p:
        yield p


@pytest.fixture
def fs1(peer, monkeypatch, settings, rdb):
    purge_actions_queue(settings)
    use_nodes(monkeypatch, settings, fs1=peer)
    call5_up(rdb, settings, "fs1")
    yield peer
    assert peer.all_connections == [], peer.commands()
    purge_actions_queue(settings)


def _refused(r, app_ctx, route_may_miss=False):
    assert 400 <= r.status_code < 500, (r.status_code, r.get_json())
    # A path part that changes the route (empty, a `/`) matches no view, which needs admin.
    assert r.status_code not in ((401,) if route_may_miss else (401, 403)), r.get_json()
    assert db.session.execute(db.select(Action)).first() is None


@pytest.mark.parametrize("field", ["supervisor", "domain", "mode", "dtmf", "node"])
@pytest.mark.parametrize("value", VALUES)
def test_supervise_body(client, tokens, fs1, app_ctx, field, value):
    body = {"supervisor": "1003", field: value}
    r = client.post(f"/api/v1/calls/{A5}/supervise", headers=tokens["supervisor"], json=body)
    _refused(r, app_ctx)
    [row] = db.session.execute(db.select(AuditEntry)).scalars().all()
    assert row.what == "supervise" and row.result.startswith(f"rejected: {r.status_code}")


@pytest.mark.parametrize("field", ["cause", "node"])
@pytest.mark.parametrize("value", VALUES)
def test_hangup_body(client, tokens, fs1, app_ctx, field, value):
    r = client.post(f"/api/v1/calls/{A5}/hangup", headers=tokens["supervisor"], json={field: value})
    _refused(r, app_ctx)


@pytest.mark.parametrize("value", VALUES)
def test_path_parts(client, tokens, fs1, app_ctx, value):
    h = tokens["supervisor"]
    part = quote(value, safe="")
    for path, body in [(f"/api/v1/calls/{part}/supervise", {"supervisor": "1003"}),
                       (f"/api/v1/calls/{part}/hangup", {}),
                       (f"/api/v1/supervisions/{part}/mode", {"mode": "listen"}),
                       (f"/api/v1/domains/{part}/extensions/1001/hangup", {}),
                       (f"/api/v1/domains/{DOMAIN}/extensions/{part}/hangup", {}),
                       (f"/api/v1/domains/{DOMAIN}/extensions/{part}/supervise",
                        {"supervisor": "1003"})]:
        _refused(client.post(path, headers=h, json=body), app_ctx, route_may_miss=True)


@pytest.mark.parametrize("value", VALUES)
def test_extension_supervise_body(client, tokens, fs1, app_ctx, value):
    for field in ("supervisor", "domain", "mode"):
        r = client.post(f"/api/v1/domains/{DOMAIN}/extensions/1001/supervise",
                        headers=tokens["supervisor"], json={"supervisor": "1003", field: value})
        _refused(r, app_ctx)


def test_non_json_bodies(client, tokens, fs1, app_ctx):
    h = tokens["supervisor"]
    for data, ctype in [("supervisor=1003", "application/x-www-form-urlencoded"),
                        ("[1]", "application/json"), ("{", "application/json"),
                        ('{"supervisor": "1003", "extra": 1}', "application/json")]:
        r = client.post(f"/api/v1/calls/{A5}/supervise", headers=h, data=data, content_type=ctype)
        _refused(r, app_ctx)
