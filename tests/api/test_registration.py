"""GET /api/v1/domains/<d>/registrations and .../extensions/<ext>/status."""
import pytest

from app.state import keys
from app.state.ingest import apply_events
from tests.support.replay import NODE, phase_us, slim_events, until

A1, B1 = "1f474b02-c679-4a1b-8803-115a722f4a65", "473d43ee-bcbe-4619-8938-cb517d079bb1"


@pytest.fixture
def state_at(rdb, settings):
    def load(t_us):
        apply_events(rdb, settings, NODE, until(slim_events(settings), t_us), now=t_us)
    return load


def test_registrations_of_a_domain(client, tokens, state_at):
    state_at(phase_us("register_1001_1002:end"))
    r = client.get("/api/v1/domains/127.0.0.1/registrations", headers=tokens["viewer"])
    assert r.status_code == 200
    body = r.get_json()
    assert body["domain"] == "127.0.0.1" and body["total"] == 3
    assert [i["extension"] for i in body["items"]] == ["1001", "1002", "1003"]
    first = body["items"][0]
    assert first["registered"] is True and first["switchname"] == "vm"
    assert first["register"]["call-id"] == "1-5542@127.0.0.1"
    assert first["register"]["network-ip"] == "127.0.0.1"
    assert [b["call-id"] for b in first["bindings"]] == ["1-5542@127.0.0.1"]


def test_registrations_empty_domain(client, tokens):
    r = client.get("/api/v1/domains/example.com/registrations", headers=tokens["viewer"])
    assert r.status_code == 200 and r.get_json() == {"domain": "example.com", "total": 0, "items": []}


def test_status_with_live_call_and_durations(client, tokens, rdb, state_at):
    state_at(phase_us("call1_caller_hangup:bridged"))
    # our clock is later than the capture: put the node's clock back so durations are known
    import time
    now_fs = 1795670529_000000
    rdb.hset(keys.node(NODE), "offset", now_fs - time.time_ns() // 1000)
    r = client.get("/api/v1/domains/127.0.0.1/extensions/1001/status", headers=tokens["viewer"])
    assert r.status_code == 200
    body = r.get_json()
    assert body["domain"] == "127.0.0.1" and body["extension"] == "1001"
    assert body["registered"] is True
    (call,) = body["calls"]
    assert call["uuid"] == A1 and call["signal_bond"] == B1 and call["state"] == "bridge"
    assert call["direction"] == "inbound" and call["destination_number"] == "1002"
    # created 527.106834, answered 528.146859, "now" 529.0 on FreeSWITCH's clock (+ test time)
    assert 1893 <= call["duration_ms"] < 1893 + 5000
    assert 853 <= call["talk_ms"] < 853 + 5000


def test_status_of_an_unregistered_extension(client, tokens, state_at):
    state_at(phase_us("reg_cycle_1001:end"))
    r = client.get("/api/v1/domains/127.0.0.1/extensions/1001/status", headers=tokens["viewer"])
    assert r.status_code == 200
    body = r.get_json()
    assert body["registered"] is False and body["register"] is None
    assert body["bindings"] == [] and body["calls"] == []


@pytest.mark.parametrize("path, field", [
    ("/api/v1/domains/bad_domain!/registrations", "domain"),
    ("/api/v1/domains/127.0.0.1/extensions/10%2001/status", "ext"),
    ("/api/v1/domains/127.0.0.1/extensions/$%7Bsystem%7D/status", "ext"),
])
def test_bad_names_are_400_with_the_field(client, tokens, path, field):
    r = client.get(path, headers=tokens["viewer"])
    assert r.status_code == 400
    body = r.get_json()
    assert body["error"] == "bad_request" and field in body["details"]


def test_needs_a_token(client):
    assert client.get("/api/v1/domains/127.0.0.1/registrations").status_code == 401
    assert client.get("/api/v1/domains/127.0.0.1/extensions/1001/status").status_code == 401


def test_in_openapi(client):
    spec = client.get("/openapi.json").get_json()
    assert "/api/v1/domains/{domain}/registrations" in spec["paths"]
    assert "/api/v1/domains/{domain}/extensions/{ext}/status" in spec["paths"]
