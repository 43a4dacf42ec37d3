"""GET /api/v1/calls and /api/v1/calls/<uuid>."""
import pytest

from app.state.ingest import apply_events
from tests.support.replay import NODE, phase_us, slim_events, until

A5, B5, S5 = ("7b12b60d-bb3e-4b17-9ee8-bc18e8ff15de", "f560aa35-82e1-4341-bf50-75684b32cd2e",
              "61bcd62c-707b-4b99-9e4b-d63c916b317a")


@pytest.fixture
def eavesdrop_up(rdb, settings):
    t = 1795670607_000000            # call 5 bridged, supervisor 1003 eavesdropping
    apply_events(rdb, settings, NODE, until(slim_events(settings), t), now=t)


def uuids(r):
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["total"] == len(body["items"])
    return [c["uuid"] for c in body["items"]]


def test_all_live_calls(client, tokens, eavesdrop_up):
    r = client.get("/api/v1/calls", headers=tokens["viewer"])
    assert uuids(r) == [A5, B5, S5]
    sup = r.get_json()["items"][2]
    assert sup["extension"] == "1003" and sup["direction"] == "outbound" and sup["node"] == NODE
    assert isinstance(sup["duration_ms"], int)


def test_filters(client, tokens, eavesdrop_up):
    h = tokens["viewer"]
    assert uuids(client.get("/api/v1/calls?domain=127.0.0.1&extension=1002", headers=h)) == [B5]
    assert uuids(client.get("/api/v1/calls?extension=1003", headers=h)) == [S5]
    assert uuids(client.get("/api/v1/calls?domain=127.0.0.1", headers=h)) == [A5, B5, S5]
    assert uuids(client.get(f"/api/v1/calls?node={NODE}", headers=h)) == [A5, B5, S5]
    assert uuids(client.get("/api/v1/calls?node=other", headers=h)) == []
    assert uuids(client.get("/api/v1/calls?limit=1", headers=h)) == [A5]


def test_no_calls_after_the_run(client, tokens, rdb, settings):
    t = phase_us("run_end")
    apply_events(rdb, settings, NODE, until(slim_events(settings), t), now=t)
    assert uuids(client.get("/api/v1/calls", headers=tokens["viewer"])) == []


def test_one_call(client, tokens, eavesdrop_up):
    r = client.get(f"/api/v1/calls/{A5}", headers=tokens["viewer"])
    assert r.status_code == 200
    body = r.get_json()
    assert body["extension"] == "1001" and body["signal_bond"] == B5 and body["hungup"] is False
    missing = client.get("/api/v1/calls/00000000-0000-0000-0000-000000000000",
                         headers=tokens["viewer"])
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"


@pytest.mark.parametrize("query, field", [
    ("domain=a%20b", "domain"), ("extension=1%0a2", "extension"), ("limit=0", "limit"),
    # a trailing newline: a regex validator's `$` let it through; the names check does not
    ("extension=1002%0a", "extension"), ("domain=127.0.0.1%0a", "domain"),
    ("limit=x", "limit"), ("node=", "node"),
])
def test_bad_query_is_422_with_the_field(client, tokens, query, field):
    r = client.get(f"/api/v1/calls?{query}", headers=tokens["viewer"])
    assert r.status_code == 422
    assert field in r.get_json()["details"]


def test_bad_uuid_is_400(client, tokens):
    r = client.get("/api/v1/calls/not-a-uuid", headers=tokens["viewer"])
    assert r.status_code == 400 and "uuid" in r.get_json()["details"]


def test_needs_a_token(client):
    assert client.get("/api/v1/calls").status_code == 401


def test_in_openapi(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "/api/v1/calls" in paths and "/api/v1/calls/{uuid}" in paths
