"""GET /api/v1/audit: admin only, newest first, paged, filterable; rows from actions and /cli."""
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from app.extensions import db
from app.models import AuditEntry
from app.services import audit
from tests.eslpeer import EslPeer
from tests.support.actions import A5, call5_up, purge_actions_queue, use_nodes


@pytest.fixture
def trail(app_ctx):
    """Five rows an hour apart, oldest first."""
    base = datetime(2026, 11, 26, 5, 0, tzinfo=timezone.utc)
    rows = [("token:alice", "supervise", A5, "fs1", "succeeded: +OK x"),
            ("token:bob", "hangup", A5, "fs1", "failed: USER_BUSY"),
            ("cli:0a1b2c3d", "cli:bgapi", None, "fs2", "replied: +OK Job-UUID: y"),
            ("token:alice", "mode", A5, "fs2", "rejected: 409 ended"),
            ("cli:0a1b2c3d", "cli:uuid_kill", A5, "fs1", "replied: -ERR No such channel!")]
    for i, (actor, what, target, node, result) in enumerate(rows):
        entry = audit.record(actor, what, target, node, {"n": i}, result)
        entry.at = base + timedelta(hours=i)
    db.session.commit()
    return base


def items(r):
    assert r.status_code == 200, r.get_json()
    return [i["detail"]["n"] for i in r.get_json()["items"]]


def test_admin_only(client, tokens, trail):
    assert client.get("/api/v1/audit").status_code == 401
    assert client.get("/api/v1/audit", headers=tokens["supervisor"]).status_code == 403
    assert client.get("/api/v1/audit", headers=tokens["viewer"]).status_code == 403
    r = client.get("/api/v1/audit", headers=tokens["admin"])
    assert items(r) == [4, 3, 2, 1, 0]
    first = r.get_json()["items"][0]
    assert set(first) == {"id", "at", "actor", "what", "target", "node", "detail", "result"}
    assert first["at"].startswith("2026-11-26T09:00:00")


def test_paging(client, admin, trail):
    r = client.get("/api/v1/audit?per_page=2&page=2", headers=admin)
    assert items(r) == [2, 1]
    body = r.get_json()
    assert body["total"] == 5 and body["pages"] == 3 and body["links"]["next"]


@pytest.mark.parametrize("query, expected", [
    ("what=cli", [4, 2]), ("what=hangup", [1]), ("actor=alice", [3, 0]), ("node=fs2", [3, 2]),
    (f"target={A5}", [4, 3, 1, 0]), ("result=rejected", [3]), ("result=replied", [4, 2]),
    ("since=2026-11-26T07:00:00Z", [4, 3, 2]), ("until=2026-11-26T07:00:00", [1, 0]),
    ("since=2026-11-26T08:00:00%2B01:00&until=2026-11-26T09:00:00Z", [3, 2]),
    ("actor=alice&what=mode", [3]), ("what=%25", []), ("actor=_", []),
])
def test_filters(client, admin, trail, query, expected):
    assert items(client.get(f"/api/v1/audit?{query}", headers=admin)) == expected


@pytest.mark.parametrize("query", ["page=0", "per_page=100000", "since=yesterday", "node=" + "x" * 200])
def test_bad_filters_are_422(client, admin, query):
    r = client.get(f"/api/v1/audit?{query}", headers=admin)
    assert r.status_code == 422


@pytest.mark.parametrize("field", ["since", "until"])
@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
                                    "9999-12-31T23:00:00-01:00"])
def test_a_moment_with_no_utc_datetime_is_a_422_naming_the_field(client, admin, trail, field,
                                                                 moment):
    r = client.get(f"/api/v1/audit?{field}={quote(moment)}", headers=admin)
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    assert body["error"] == "validation_failed" and list(body["details"]) == [field]
    assert "out of range" in body["details"][field][0]


def test_the_last_moments_of_the_calendar_still_filter(client, admin, trail):
    assert items(client.get("/api/v1/audit?until=9999-12-31T23:59:59Z", headers=admin)) == \
        [4, 3, 2, 1, 0]
    assert items(client.get(f"/api/v1/audit?since={quote('9999-12-31T23:59:59+14:00')}",
                            headers=admin)) == []
    r = client.get(f"/api/v1/audit?since={quote('2026-11-26T08:00:00+01:00')}&per_page=1",
                   headers=admin)
    assert items(r) == [4]
    assert r.get_json()["links"]["next"] == ("/api/v1/audit?since=2026-11-26T07%3A00%3A00%2B00%3A00"
                                             "&page=2&per_page=1")


def test_actions_and_refusals_write_rows(client, tokens, admin, app_ctx, rdb, settings,
                                         monkeypatch):
    purge_actions_queue(settings)
    with EslPeer() as fs1:
        use_nodes(monkeypatch, settings, fs1=fs1)
        call5_up(rdb, settings, "fs1")
        h = tokens["supervisor"]
        assert client.post(f"/api/v1/calls/{A5}/hangup", headers=h, json={}).status_code == 202
        bad = client.post(f"/api/v1/calls/{A5}/supervise", headers=h,
                          json={"supervisor": "1003\n\napi system id"})
        assert bad.status_code == 422
        nul = client.post(f"/api/v1/calls/{A5}/hangup", headers=h,
                          data=b'{"cause": "NORMAL_CLEARING\x00"}', content_type="application/json")
        assert nul.status_code == 400
        assert fs1.commands() == []
    purge_actions_queue(settings)
    r = client.get("/api/v1/audit", headers=admin).get_json()["items"]
    assert [(i["what"], i["actor"], i["target"]) for i in r] == [
        ("hangup", "token:test-supervisor", A5), ("supervise", "token:test-supervisor", A5),
        ("hangup", "token:test-supervisor", A5)]
    # A raw NUL is stored visibly (PostgreSQL text cannot hold it).
    assert r[0]["result"].startswith("rejected: 400") and "\\x00" in r[0]["detail"]["body"]
    assert r[1]["result"].startswith("rejected: 422") and "supervisor" in r[1]["detail"]["details"]
    assert r[2]["result"] == "queued" and r[2]["node"] == "fs1"
    assert r[2]["detail"]["calls"][0]["bond"] == "f560aa35-82e1-4341-bf50-75684b32cd2e"


def test_unauthenticated_requests_are_not_audited(client, app_ctx):
    assert client.post(f"/api/v1/calls/{A5}/hangup", json={}).status_code == 401
    assert db.session.execute(db.select(AuditEntry)).first() is None


def test_audit_url_filter_is_escaped(client, admin, trail):
    assert items(client.get("/api/v1/audit?target=" + quote("%"), headers=admin)) == []
