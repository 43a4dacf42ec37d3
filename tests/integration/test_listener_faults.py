"""The real listener against a misbehaving peer and broker: it logs, recovers, and loses no
event it had received whole (every complete frame is enqueued)."""
import json
import os
import signal

import pytest

from app.state import keys
from tests.eslpeer import FIXTURE_CORE_UUID, EslPeer, phase_events
from tests.eslpeer.broker import BrokerQueue
from tests.eslpeer.procs import listener_cmd, log_text, process_env, running, wait_for
from tests.eslpeer.wire import json_event_frame
from tests.support.listener import FAST, ident, subscribed
from tests.support.net import HeldPort
from tests.support.redis_server import RedisServer, needs_redis_server

pytestmark = pytest.mark.integration


def phase(name):
    return subscribed([w.event for w in phase_events(name)])


def subscription(peer, log, timeout=15):
    """The listener's (next) subscription; on a timeout the peer's connections and the
    listener's log say which side stalled."""
    try:
        return peer.wait_subscribed(timeout=timeout)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n--- {log.name} ---\n{log_text(log)[-8000:]}") from None


def start(settings, tmp_path, peer, extra=None):
    env = process_env(settings, tmp_path, nodes=[("fs1", peer)], extra={**FAST, **(extra or {})})
    log = tmp_path / "listener.log"
    return running(listener_cmd(), env, log), log


def test_malformed_frames_are_skipped_and_nothing_else_is_lost(settings, tmp_path, broker, rdb):
    with EslPeer() as peer:
        proc_cm, log = start(settings, tmp_path, peer)
        with proc_cm as proc:
            subscription(peer, log)
            peer.replay(phase="register_1001_1002")
            peer.send_raw(json_event_frame(b'{"Event-Name": "CHANNEL_CREATE", "Unique-ID": '))
            peer.send_raw(json_event_frame(b'["not", "an", "object"]'))
            peer.send_raw(json_event_frame(b"\xff\xfe garbage"))
            peer.send_raw(b"Content-Type: text/unknown\nContent-Length: 3\n\nabc")
            peer.replay(phase="call1_caller_hangup")
            want = phase("register_1001_1002") + phase("call1_caller_hangup")
            wait_for(lambda: len(broker.events()) >= len(want), 15, what="events", log=log)

            def status():
                raw = rdb.get(keys.listener_status("fs1"))
                s = json.loads(raw) if raw else {}
                return s if s.get("malformed") == 4 and s.get("enqueued") == len(want) else None
            st = wait_for(status, 10, what="malformed count in the status")
            assert proc.poll() is None
    assert [ident(e) for e in broker.events()] == [ident(e) for e in want]
    assert st["reconnects"] == 0 and len(peer.all_connections) >= 1
    assert "malformed event body skipped" in log_text(log)
    assert "unexpected frame 'text/unknown' skipped" in log_text(log)


@pytest.mark.parametrize("bad", [
    b"Content-Length: abc\nContent-Type: text/event-json\n\n{}",
    b"Content-Length: -5\nContent-Type: text/event-json\n\n{}",
    b"Content-Type: text/event-json\n\n{}",
    b"x" * 70000,
])
def test_an_unframeable_stream_reconnects_and_resyncs(settings, tmp_path, broker, bad):
    with EslPeer() as peer:
        proc_cm, log = start(settings, tmp_path, peer)
        with proc_cm as proc:
            first = subscription(peer, log)[0]
            peer.replay(phase="register_1001_1002")
            peer.send_raw(bad)
            peer.wait_for(lambda: first.closed, 10)
            subscription(peer, log)
            peer.replay(phase="call1_caller_hangup")
            want = phase("register_1001_1002") + phase("call1_caller_hangup")
            wait_for(lambda: len(broker.events()) >= len(want), 15, what="events", log=log)
            wait_for(lambda: len(broker.resyncs()) == 2, 10, what="second resync")
            assert proc.poll() is None
    assert [ident(e) for e in broker.events()] == [ident(e) for e in want]
    assert [r[1] for r in broker.resyncs()] == ["connect", "connect"]
    assert "event connection lost" in log_text(log)


def test_disconnect_mid_frame_keeps_every_complete_frame(settings, tmp_path, broker):
    with EslPeer() as peer:
        proc_cm, log = start(settings, tmp_path, peer)
        with proc_cm as proc:
            subscription(peer, log)
            peer.replay(phase="call1_caller_hangup")
            peer.disconnect_mid_frame()           # half a HEARTBEAT, then the TCP connection drops
            subscription(peer, log)
            peer.replay(phase="call2_callee_hangup")
            want = phase("call1_caller_hangup") + phase("call2_callee_hangup")
            wait_for(lambda: len(broker.events()) >= len(want), 15, what="events", log=log)
            assert proc.poll() is None
    assert [ident(e) for e in broker.events()] == [ident(e) for e in want]
    assert len(broker.resyncs()) == 2


def auths(peer) -> int:
    """The `auth` commands the peer received (one per connection attempt)."""
    return sum(1 for c in peer.commands() if c.startswith("auth "))


def test_wrong_password_is_logged_and_retried_until_fixed(settings, tmp_path, broker):
    with EslPeer(password="not-the-configured-one") as peer:
        env_peer = ("127.0.0.1", peer.port, "ClueCon")
        env = process_env(settings, tmp_path, nodes=[("fs1", env_peer)], extra=FAST)
        log = tmp_path / "listener.log"
        with running(listener_cmd(), env, log) as proc:
            wait_for(lambda: auths(peer) >= 3, 15, what="repeated auth failures", log=log)
            # said once (one WARNING per node per unreachable_log_interval), tried again and again
            assert log_text(log).count("refused the event-socket password") == 1
            assert proc.poll() is None and broker.resyncs() == []
            peer.password = "ClueCon"
            subscription(peer, log)
            peer.replay(phase="register_1001_1002")
            wait_for(lambda: len(broker.events()) == len(phase("register_1001_1002")), 15,
                     what="events after the fix")


def test_a_peer_that_never_answers_does_not_hang_the_listener(settings, tmp_path, broker):
    with EslPeer(greet=False) as peer:
        proc_cm, log = start(settings, tmp_path, peer)
        with proc_cm as proc:
            # tried again and again (said once per unreachable_log_interval)
            wait_for(lambda: len(peer.all_connections) >= 2 and "stayed silent" in log_text(log),
                     20, what="timeouts on a silent peer", log=log)
            peer.greet = True
            subscription(peer, log)
            peer.replay(phase="register_1001_1002")
            wait_for(lambda: len(broker.events()) == len(phase("register_1001_1002")), 15,
                     what="events once it answers")
            assert proc.poll() is None


def test_a_peer_that_accepts_auth_and_goes_silent_is_cut_off(settings, tmp_path, broker):
    with EslPeer(ignore={"auth"}) as peer:
        proc_cm, log = start(settings, tmp_path, peer)
        with proc_cm as proc:
            wait_for(lambda: auths(peer) >= 2 and "no answer to auth" in log_text(log), 20,
                     what="auth timeouts", log=log)
            peer.ignore = set()
            subscription(peer, log)
            assert proc.poll() is None


def test_no_freeswitch_reachable_keeps_retrying_and_stops_cleanly(settings, tmp_path, rdb):
    dead = HeldPort()                     # refuses, and nobody else can start listening there
    env = process_env(settings, tmp_path, nodes=[("fs1", (dead.host, dead.port, "ClueCon"))],
                      extra=FAST)
    log = tmp_path / "listener.log"
    with dead, running(listener_cmd(), env, log) as proc:
        raw = wait_for(lambda: rdb.get(keys.listener_status("fs1")), 10, what="status")
        st = json.loads(raw)
        assert st["connected"] is False and "cannot connect" in st["last_error"]
        # it keeps trying (every 0.3 s at most here), and says so once per interval (300 s)
        wait_for(lambda: rdb.pttl(keys.quiet("esl-unreachable:fs1")) > 0, 10, what="warning")
        assert log_text(log).count("fs1: cannot connect to FreeSWITCH") == 1
        assert proc.poll() is None
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(10) == 0
    assert "listener stopped" in log_text(log)


@needs_redis_server
def test_broker_down_buffers_then_overflow_triggers_a_resync(settings, tmp_path, rdb):
    with RedisServer() as broker_redis, EslPeer(queue_limit=200) as peer:
        q = BrokerQueue(broker_redis.url)
        proc_cm, log = start(settings, tmp_path, peer, extra={
            "CELERY_BROKER_URL": broker_redis.url, "FSCTI_LISTENER_BUFFER_MAX": "100"})
        with proc_cm as proc:
            subscription(peer, log)
            wait_for(lambda: q.resyncs(), 10, what="connect resync", log=log)
            broker_redis.stop()
            # 1. Broker down, within the buffer: held in memory, all delivered later.
            call1 = phase("call1_caller_hangup")
            peer.replay(phase="call1_caller_hangup")
            wait_for(lambda: "broker unavailable" in log_text(log), 10, what="broker error logged")
            broker_redis.start()
            wait_for(lambda: len(q.events()) == len(call1), 20, what="held events", log=log)
            assert [ident(e) for e in q.events()] == [ident(e) for e in call1]
            assert len(q.resyncs()) == 1
            # 2. Broker down, more events than the buffer holds: the excess is dropped and
            #    counted, and a resync ("overflow") follows the kept events once it is back.
            q.drain()
            broker_redis.stop()
            for _ in range(8):
                peer.replay(phase="call2_callee_hangup")
            sent = 8 * len(phase("call2_callee_hangup"))
            wait_for(lambda: (json.loads(rdb.get(keys.listener_status("fs1")) or "{}")
                              .get("received", 0)) >= len(call1) + sent, 15, what="all read")
            broker_redis.start()
            wait_for(lambda: len(q.resyncs()) == 2, 20, what="overflow resync", log=log)
            assert proc.poll() is None
            kept = q.events()[len(call1):]
        st = json.loads(rdb.get(keys.listener_status("fs1")))
    assert len(kept) == 100 and st["dropped"] == sent - 100
    assert [m.args for m in q.messages if m.task == "fscti.state.resync"][1] == [
        "fs1", "overflow", FIXTURE_CORE_UUID, 1]           # 1: the listener's lease token
    assert q.messages[-1].task == "fscti.state.resync"     # after the kept events
    assert peer.lost == 0           # FreeSWITCH's queue never filled: reading never waited
    assert "resync queued" in log_text(log)
