"""EventStream (the listener's event connection) in-process against the peer, both decoders."""
import time

import pytest

from app.esl.commands import event_subscriptions
from app.esl.errors import EslCommandError, EslUnavailable
from app.esl.stream import EslProtocolError, EventStream
from tests.eslpeer import EslPeer, phase_events, wire_events
from tests.eslpeer.wire import json_event_frame
from tests.support.bounded import HANG, returns_within

DECODERS = ["frames", "esl"]


@pytest.fixture
def peer():
    with EslPeer() as p:
        yield p


def read_n(stream, n, limit=HANG):
    out, deadline = [], time.monotonic() + limit
    while len(out) < n and time.monotonic() < deadline:
        out += stream.read()
    return out


def opened(peer, decoder, **kw):
    s = EventStream(peer.node("fs1"), timeout=2, decoder=decoder, **kw)
    s.open()
    return s


@pytest.mark.parametrize("decoder", DECODERS)
def test_subscribes_then_reads_every_subscribed_fixture_event_in_order(peer, decoder):
    stream = opened(peer, decoder)
    conn = peer.wait_subscribed()[0]
    assert peer.commands(conn) == ["auth ClueCon"] + event_subscriptions("json")
    before = time.time()
    sent = peer.replay()
    got = read_n(stream, len(sent))
    after = time.time()
    assert [e["Event-Sequence"] for e, _ in got] == [e["Event-Sequence"] for e in sent]
    for (event, received), source in zip(got, sent):
        assert event["Unique-ID" if "Unique-ID" in source else "Event-Name"] == \
            source["Unique-ID" if "Unique-ID" in source else "Event-Name"]
        assert before <= received <= after     # wall-clock time of receipt
    job = next(e for e, _ in got if e["Event-Name"] == "BACKGROUND_JOB")
    assert job["_body"].startswith("UP 0 years")
    stream.close()


@pytest.mark.parametrize("decoder", DECODERS)
def test_malformed_bodies_are_counted_and_skipped(peer, decoder):
    stream = opened(peer, decoder)
    peer.wait_subscribed()
    peer.send_raw(json_event_frame(b'{"Event-Name": "HEARTBEAT", '))
    peer.send_raw(json_event_frame(b"[1, 2]"))
    sent = peer.replay(phase="register_1001_1002")
    got = read_n(stream, len(sent))
    assert [e["Event-Sequence"] for e, _ in got] == [e["Event-Sequence"] for e in sent]
    assert stream.malformed == 2
    stream.close()


def test_complete_frames_come_out_before_an_unframeable_one_ends_the_stream(peer):
    stream = opened(peer, "frames")
    peer.wait_subscribed()
    sent = peer.replay(phase="call1_caller_hangup")
    peer.send_raw(b"Content-Length: 12x\nContent-Type: text/event-json\n\n{}")
    peer.flush(peer.subscribers()[0])
    got = read_n(stream, len(sent))
    assert len(got) == len(sent)
    with pytest.raises(EslProtocolError, match="bad Content-Length"):
        stream.read()


def test_disconnect_notice_is_reported(peer):
    stream = opened(peer, "frames")
    peer.wait_subscribed()
    peer.restart()
    with pytest.raises(EslUnavailable, match="The system is being shut down"):
        read_n(stream, 1)


@pytest.mark.parametrize("decoder", DECODERS)
def test_silence_longer_than_idle_timeout_ends_the_stream(peer, decoder):
    stream = opened(peer, decoder, idle_timeout=0.5)
    with pytest.raises(EslUnavailable, match="nothing received|lost"):
        returns_within(stream.read)


@pytest.mark.parametrize("decoder", DECODERS)
def test_half_a_frame_then_silence_is_cut_off(peer, decoder):
    stream = opened(peer, decoder, idle_timeout=0.5)
    peer.wait_subscribed()
    frame = json_event_frame(wire_events()[0].body)
    peer.send_raw(frame[: len(frame) // 2])

    def read_forever():
        while True:
            stream.read()
    with pytest.raises(EslUnavailable):
        returns_within(read_forever)


def test_refused_subscription_is_a_command_error(peer):
    # The peer answers `event` itself; make it refuse like FreeSWITCH does with no keywords.
    peer._cmd_event = lambda conn, cmd, pkt: conn.send_reply(
        b"Content-Type: command/reply\nReply-Text: -ERR no keywords supplied\n\n")
    with pytest.raises(EslCommandError):
        EventStream(peer.node("fs1"), timeout=2).open()


def test_abort_unblocks_a_read_from_another_thread(peer):
    import threading

    stream = opened(peer, "frames", idle_timeout=10 * HANG)   # only the abort can end this read
    threading.Timer(0.2, stream.abort).start()
    with pytest.raises(EslUnavailable):
        returns_within(stream.read)
    assert phase_events("call1_caller_hangup")


@pytest.mark.parametrize("decoder", DECODERS)
def test_events_arriving_between_the_two_subscription_packets_are_kept(peer, decoder):
    import threading

    held = threading.Event()
    original = peer._cmd_event

    def slow_second_packet(conn, cmd, pkt):
        if "CUSTOM" in cmd:
            # Events of the first subscription go out before this packet's reply.
            for w in phase_events("call1_caller_hangup"):
                peer.emit(w.event)
            peer.flush(conn)
            held.set()
        original(conn, cmd, pkt)

    peer._cmd_event = slow_second_packet
    stream = opened(peer, decoder)
    assert held.is_set()
    if decoder == "frames":
        assert stream._early          # the case under test really happened
    sent = [e for _, e in peer.sent_events]
    got = read_n(stream, len(sent))
    assert len(sent) > 10 and [e["Event-Sequence"] for e, _ in got] == [e["Event-Sequence"] for e in sent]


def test_events_read_together_with_the_last_subscription_reply_are_not_stuck(peer):
    original = peer._cmd_event

    def reply_then_events_in_one_write(conn, cmd, pkt):
        if "CUSTOM" not in cmd:
            return original(conn, cmd, pkt)
        with conn.cond:                      # hold the writer: reply + events leave together
            original(conn, cmd, pkt)
            for w in phase_events("register_1001_1002"):
                peer.emit(w.event)

    peer._cmd_event = reply_then_events_in_one_write
    stream = opened(peer, "frames", idle_timeout=2)
    assert stream._buf                       # the case under test really happened
    sent = [e for _, e in peer.sent_events]
    got = read_n(stream, len(sent))
    assert len(sent) == 2 and [e["Event-Sequence"] for e, _ in got] == [e["Event-Sequence"] for e in sent]


@pytest.mark.parametrize("decoder", DECODERS)
def test_the_listeners_decode_hook_hands_over_slim_events_and_counts_what_it_drops(peer, decoder, settings):
    from app.state.events import Slimmer

    slimmer = Slimmer(settings)
    stream = opened(peer, decoder, decode=slimmer.decode)
    peer.wait_subscribed()
    peer.send_raw(json_event_frame(b'{"Event-Name": "CUSTOM", "Event-Subclass": "sofia::pre_register"}'))
    peer.send_raw(json_event_frame(b'{"Event-Name": 7}'))
    peer.send_raw(json_event_frame(b'{"Event-Name": "CHANNEL_ANSWER", "Unique-ID": "\xff"}'))
    sent = peer.replay(phase="call1_caller_hangup")
    got = read_n(stream, len(sent))
    assert [e for e, _ in got] == [slimmer(dict(e)) for e in sent]
    assert stream.filtered == 1 and stream.malformed == 2
    stream.close()
