"""The real listener process against the wire-level peer; what it enqueued is read raw from the broker."""
import json

import pytest

from app.esl.commands import event_subscriptions
from app.state import keys
from tests.eslpeer import FIXTURE_CORE_UUID, EslPeer, phase_events, phases, wire_events
from tests.eslpeer.procs import listener_cmd, log_text, process_env, running, wait_for
from tests.support.listener import FAST, ident, subscribed

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("decoder", ["frames", "esl"])
def test_every_fixture_event_arrives_once_in_order_phase_by_phase(settings, tmp_path, broker, decoder):
    log = tmp_path / "listener.log"
    with EslPeer() as peer:
        env = process_env(settings, tmp_path, nodes=[("fs1", peer)],
                          extra={**FAST, "FSCTI_LISTENER_DECODER": decoder})
        with running(listener_cmd(), env, log) as proc:
            conn = peer.wait_subscribed(timeout=15)[0]
            wait_for(lambda: broker.resyncs(), 10, what="the connect resync", log=log)
            expected = []
            for name in sorted(phases(), key=lambda p: phases()[p][0]):
                expected += subscribed([w.event for w in phase_events(name)])
                peer.replay(phase=name)
                wait_for(lambda: len(broker.events()) >= len(expected), 15,
                         what=f"phase {name}", log=log)
                assert [ident(e) for e in broker.events()] == [ident(e) for e in expected], name
            assert proc.poll() is None
    got = broker.events()
    assert all(isinstance(e["_received"], float) for e in got)
    assert {m.args[0] for m in broker.messages} == {"fs1"}
    assert broker.resyncs() == [["fs1", "connect", FIXTURE_CORE_UUID]]
    # everything went under the node's first lease token (app/state/lease.py)
    assert set(broker.tokens()) == set(broker.tokens("fscti.state.resync")) == {1}
    # The subscription on the wire, and the Core-UUID asked on a separate command connection.
    assert peer.commands(conn) == ["auth ClueCon"] + list(event_subscriptions("json"))
    cmd_conns = [c for c in peer.all_connections if c.authed and c is not conn]
    assert [peer.commands(c) for c in cmd_conns] == [["auth ClueCon", "api global_getvar core_uuid"]]
    # A registration event is passed whole (slim_event keeps every header of it).
    reg = next(e for e in got if e.get("Event-Subclass") == "sofia::register")
    source = next(w.event for w in wire_events() if w.event["Event-Sequence"] == reg["Event-Sequence"])
    assert {k: v for k, v in reg.items() if k != "_received"} == source


def test_whole_capture_in_one_go_and_status_in_redis(settings, tmp_path, broker, rdb):
    log = tmp_path / "listener.log"
    with EslPeer() as peer:
        env = process_env(settings, tmp_path, nodes=[("fs1", peer)], extra=FAST)
        with running(listener_cmd(), env, log):
            peer.wait_subscribed(timeout=15)
            peer.replay()
            expected = subscribed([w.event for w in wire_events()])
            wait_for(lambda: len(broker.events()) >= len(expected), 15, what="all events", log=log)

            def status():
                raw = rdb.get(keys.listener_status("fs1"))
                s = json.loads(raw) if raw else {}
                return s if s.get("enqueued") == len(expected) else None
            st = wait_for(status, 10, what="status in Redis")
    assert [ident(e) for e in broker.events()] == [ident(e) for e in expected]
    assert st["connected"] is True and st["core_uuid"] == FIXTURE_CORE_UUID
    assert st["received"] == len(expected) and st["dropped"] == 0 and st["malformed"] == 0
    assert st["lag_ms"] >= 0 and st["buffered"] == 0 and st["broker_ok"] is True
    assert "fs1: up received=" in log_text(log)
    assert peer.lost == 0


def test_restart_with_a_new_core_uuid_sends_a_core_uuid_changed_resync(settings, tmp_path, broker):
    log = tmp_path / "listener.log"
    with EslPeer() as peer:
        env = process_env(settings, tmp_path, nodes=[("fs1", peer)], extra=FAST)
        with running(listener_cmd(), env, log):
            peer.wait_subscribed(timeout=15)
            peer.replay(phase="register_1001_1002")
            wait_for(lambda: broker.events(), 10, what="first events")
            new_core = peer.restart(down=0.3)
            peer.wait_subscribed(timeout=15)
            wait_for(lambda: len(broker.resyncs()) == 2, 10, what="resync after restart", log=log)
            peer.replay(phase="call1_caller_hangup")
            n = len(subscribed([w.event for w in phase_events("call1_caller_hangup")]))
            wait_for(lambda: len([e for e in broker.events() if e["Core-UUID"] == new_core]) == n, 10,
                     what="events after the restart")
    assert broker.resyncs() == [["fs1", "connect", FIXTURE_CORE_UUID],
                                ["fs1", "core-uuid-changed", new_core]]
    # Event-Sequence started again at 1 (unsubscribed events use numbers too: gaps are normal).
    seqs = [int(e["Event-Sequence"]) for e in broker.events() if e["Core-UUID"] == new_core]
    assert seqs == sorted(seqs) and seqs[-1] <= len(phase_events("call1_caller_hangup"))
    assert "disconnected: The system is being shut down." in log_text(log)


def test_core_uuid_change_seen_in_the_stream(settings, tmp_path, broker):
    log = tmp_path / "listener.log"
    with EslPeer() as peer:
        env = process_env(settings, tmp_path, nodes=[("fs1", peer)], extra=FAST)
        with running(listener_cmd(), env, log):
            peer.wait_subscribed(timeout=15)
            wait_for(lambda: broker.resyncs(), 10, what="connect resync")
            peer.core_uuid = "0b6f8d2e-4c1a-4f0e-9a57-1d2c3b4a5f60"
            peer.heartbeat()
            wait_for(lambda: len(broker.resyncs()) == 2, 10, what="stream resync", log=log)
    assert broker.resyncs()[1] == ["fs1", "core-uuid-changed", "0b6f8d2e-4c1a-4f0e-9a57-1d2c3b4a5f60"]


def test_two_nodes_are_read_independently(settings, tmp_path, broker):
    log = tmp_path / "listener.log"
    with EslPeer() as fs1, EslPeer(core_uuid="5d8b1c2a-7e6f-4a3b-9c0d-1e2f3a4b5c6d") as fs2:
        env = process_env(settings, tmp_path, nodes=[("fs1", fs1), ("fs2", fs2)], extra=FAST)
        with running(listener_cmd(), env, log):
            fs1.wait_subscribed(timeout=15)
            fs2.wait_subscribed(timeout=15)
            fs1.replay(phase="call1_caller_hangup")
            fs2.replay(phase="call2_callee_hangup")
            n1 = len(subscribed([w.event for w in phase_events("call1_caller_hangup")]))
            n2 = len(subscribed([w.event for w in phase_events("call2_callee_hangup")]))
            wait_for(lambda: len(broker.events("fs1")) == n1 and len(broker.events("fs2")) == n2,
                     15, what="both nodes", log=log)
    assert {e["Core-UUID"] for e in broker.events("fs2")} == {"5d8b1c2a-7e6f-4a3b-9c0d-1e2f3a4b5c6d"}
    assert sorted(r[:2] for r in broker.resyncs()) == [["fs1", "connect"], ["fs2", "connect"]]
