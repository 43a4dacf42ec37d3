"""GET /api/v1/time: FreeSWITCH's microsecond clock (`strmicroepoch`) from the right node."""
from tests.eslpeer import EslPeer
from tests.support.actions import lines, use_nodes


def test_time_of_the_first_node_that_answers(client, tokens, app, settings, monkeypatch):
    down = EslPeer().start()
    with EslPeer() as fs2:
        fs2.api.set("strmicroepoch", "1795670529686854")
        use_nodes(monkeypatch, settings, fs1=down, fs2=fs2)
        down.stop()
        r = client.get("/api/v1/time", headers=tokens["viewer"])
        assert r.status_code == 200, r.get_json()
        assert r.get_json() == {"node": "fs2", "timestamp": "1795670529686854",
                                "microseconds": 1795670529686854}
        assert lines(fs2) == ["api strmicroepoch"]
        r = client.get("/api/v1/time?node=fs1", headers=tokens["viewer"])
        assert r.status_code == 503 and "fs1" in r.get_json()["message"]


def test_time_of_a_named_node(client, tokens, app, settings, monkeypatch):
    with EslPeer() as fs1, EslPeer() as fs2:
        fs1.api.set("strmicroepoch", "1000000000000001")
        fs2.api.set("strmicroepoch", "1000000000000002")
        use_nodes(monkeypatch, settings, fs1=fs1, fs2=fs2)
        r = client.get("/api/v1/time?node=fs2", headers=tokens["viewer"])
        assert r.get_json()["timestamp"] == "1000000000000002"
        assert client.get("/api/v1/time", headers=tokens["viewer"]).get_json()["node"] == "fs1"
        r = client.get("/api/v1/time?node=fs9", headers=tokens["viewer"])
        assert r.status_code == 404 and "node" in r.get_json()["details"]
        assert lines(fs1) == ["api strmicroepoch"] and lines(fs2) == ["api strmicroepoch"]


def test_time_needs_a_node_and_a_token(client, tokens, app, settings, monkeypatch):
    monkeypatch.setattr(settings, "freeswitch", [])
    assert client.get("/api/v1/time").status_code == 401
    assert client.get("/api/v1/time", headers=tokens["viewer"]).status_code == 503
