"""The wire-level event-socket peer itself, checked byte by byte and against python-ESL."""
import json
import socket
import time

import ESL
import pytest

from tests.eslpeer import EslPeer, FIXTURE_CORE_UUID, phase_events, wire_events
from tests.eslpeer.synthetic import SyntheticCalls
from tests.eslpeer.wire import PacketReader, fs_url_encode, split_frames


# An event or reply that is coming arrives long before this (only a failing test waits it out).
WAIT_MS = 30_000


class Raw:
    """A bare TCP client that reads whole frames."""

    def __init__(self, peer, timeout=WAIT_MS / 1000):
        self.sock = socket.create_connection(peer.address, timeout=timeout)
        self.buf = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def frame(self):
        while True:
            frames = split_frames(self.buf)
            if frames:
                headers, body, raw = frames[0]
                if len(raw) <= len(self.buf) and len(body) == int(headers.get("Content-Length", 0)):
                    self.buf = self.buf[len(raw):]
                    return headers, body, raw
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self.buf += data

    def auth(self, password="ClueCon"):
        assert self.frame()[2] == b"Content-Type: auth/request\n\n"
        self.send(f"auth {password}\n\n".encode())
        return self.frame()

    def close(self):
        self.sock.close()


@pytest.fixture
def peer():
    with EslPeer() as p:
        yield p


def esl(peer, password="ClueCon"):
    con = ESL.ESLconnection(peer.host, str(peer.port), password)
    return con


def test_greeting_and_auth_exact_bytes(peer):
    c = Raw(peer)
    assert c.auth()[2] == b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
    before = time.time_ns() // 1000
    c.send(b"api strmicroepoch\n\n")
    headers, body, raw = c.frame()
    after = time.time_ns() // 1000
    assert raw.startswith(b"Content-Type: api/response\nContent-Length: 16\n\n")
    assert before <= int(body) <= after        # the peer's own clock, in microseconds
    assert peer.commands() == ["auth ClueCon", "api strmicroepoch"]
    assert peer.all_connections[0].raw_in == b"auth ClueCon\n\napi strmicroepoch\n\n"


def test_wrong_password_is_refused_with_a_notice_and_closed(peer):
    c = Raw(peer)
    assert c.auth("nope")[0]["Reply-Text"] == "-ERR invalid"
    headers, body, _ = c.frame()
    assert headers["Content-Type"] == "text/disconnect-notice" and body.startswith(b"Disconnected")
    with pytest.raises(EOFError):
        c.frame()
    assert not esl(peer, "nope").connected()


def test_commands_before_auth_are_refused(peer):
    c = Raw(peer)
    c.frame()
    c.send(b"api status\n\n")
    assert c.frame()[0]["Reply-Text"] == "-ERR command not found"


def test_python_esl_api_answers_from_the_fixture_table(peer):
    con = esl(peer)
    assert con.connected()
    assert con.sendRecv("api show calls as json").getBody() == '{"row_count": 0}\n'
    xml = con.sendRecv("api sofia xmlstatus profile internal reg").getBody()
    assert xml.startswith('<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>')
    assert con.sendRecv("api xml_flush_cache id 1001 127.0.0.1").getBody() == "+OK cleared 1 entry\n"
    assert (con.sendRecv("api uuid_kill 00000000-0000-0000-0000-000000000000").getBody()
            == "-ERR No such channel!\n")
    assert con.sendRecv("api no_such_command").getBody() == "-ERR no_such_command Command not found!\n"
    assert con.sendRecv("api global_getvar core_uuid").getBody() == FIXTURE_CORE_UUID
    peer.api.set("show channels as json", '{"row_count": 7}\n')
    assert con.api("show channels as json").getBody() == '{"row_count": 7}\n'
    # python-ESL's api() appends a space; the peer records exactly what arrived.
    assert peer.commands()[-1] == "api show channels as json "


def test_bgapi_reply_and_background_job_event(peer):
    con = esl(peer)
    con.sendRecv("event json BACKGROUND_JOB")
    job = "2e1eccd7-185d-427c-b53e-6e57c9f7b730"
    reply = con.sendRecv(f"bgapi uuid_kill 00000000-0000-0000-0000-000000000000\nJob-UUID: {job}")
    assert reply.getHeader("Reply-Text") == f"+OK Job-UUID: {job}"
    assert reply.getHeader("Job-UUID") == job
    event = con.recvEventTimed(WAIT_MS)
    assert event.getHeader("Event-Name") == "BACKGROUND_JOB"
    assert event.getHeader("Job-UUID") == job and event.getHeader("Job-Command") == "uuid_kill"
    assert event.getHeader("Job-Command-Arg") == "00000000-0000-0000-0000-000000000000"
    assert event.getBody() == "-ERR No such channel!\n"


def test_python_esl_decodes_every_fixture_event_in_json(peer):
    con = esl(peer)
    assert con.sendRecv("event json ALL").getHeader("Reply-Text") == "+OK event listener enabled json"
    sent = peer.replay()
    assert len(sent) == len(wire_events()) == 658
    for expected in sent:
        got = json.loads(con.recvEventTimed(WAIT_MS).serialize("json"))
        for name, value in expected.items():
            if name != "_body" and not isinstance(value, list):
                assert got[name] == value, name
        if "_body" in expected:
            assert got["_body"] == expected["_body"]
    assert con.recvEventTimed(100) is None


def test_python_esl_decodes_every_fixture_event_in_plain(peer):
    con = esl(peer)
    con.sendRecv("event plain ALL")
    peer.replay()
    for w in wire_events():
        event = con.recvEventTimed(WAIT_MS)
        for name, value in w.event.items():
            if name == "_body":
                assert event.getBody() == value
            elif isinstance(value, str) and value and name != "Content-Length":
                assert event.getHeader(name) == value, name


def test_subscriptions_are_honoured(peer):
    con = esl(peer)
    con.sendRecv("event json CHANNEL_CREATE")
    con.sendRecv("event json CUSTOM sofia::register")
    sent = peer.replay(phase="register_1001_1002")
    sent += peer.replay(phase="call1_caller_hangup")
    names = [(e["Event-Name"], e.get("Event-Subclass")) for e in sent]
    assert set(names) == {("CHANNEL_CREATE", None), ("CUSTOM", "sofia::register")}
    for e in sent:
        assert con.recvEventTimed(WAIT_MS).getHeader("Event-Sequence") == e["Event-Sequence"]
    assert con.recvEventTimed(100) is None
    assert con.sendRecv("event json").getHeader("Reply-Text") == "-ERR no keywords supplied"


def test_filters_narrow_delivery(peer):
    con = esl(peer)
    con.sendRecv("event json ALL")
    reply = con.sendRecv("filter Unique-ID 1f474b02-c679-4a1b-8803-115a722f4a65")
    assert reply.getHeader("Reply-Text") == "+OK filter added. [Unique-ID]=[1f474b02-c679-4a1b-8803-115a722f4a65]"
    sent = peer.replay(phase="call1_caller_hangup")
    assert sent and all(e["Unique-ID"] == "1f474b02-c679-4a1b-8803-115a722f4a65" for e in sent)


def test_packet_framing_follows_read_packet():
    r = PacketReader(1)
    pkts = r.feed(b"\r\n\napi status\r\n\r\nbgapi x\n\r\nevent json ALL\nJob-UUID: abc\n\n"
                  b"sendevent CUSTOM\nContent-Length: 3\n\nabc")
    assert [p.command for p in pkts] == ["api status", "bgapi x", "event json ALL", "sendevent CUSTOM"]
    assert pkts[2].headers == {"Job-UUID": "abc"} and pkts[3].body == b"abc"
    # A blank line inside a "value" is a second command: the injection facts §3.7 warns about.
    assert [p.command for p in PacketReader(1).feed(b"api a\n\napi system id\n\n")] == ["api a", "api system id"]


def test_exit_says_bye_then_disconnects(peer):
    c = Raw(peer)
    c.auth()
    c.send(b"exit\n\n")
    assert c.frame()[0]["Reply-Text"] == "+OK bye"
    assert c.frame()[0]["Content-Type"] == "text/disconnect-notice"


def test_restart_changes_core_uuid_and_resets_sequence(peer):
    con = esl(peer)
    con.sendRecv("event json HEARTBEAT")
    peer.heartbeat()
    assert con.recvEventTimed(WAIT_MS).getHeader("Core-UUID") == FIXTURE_CORE_UUID
    new = peer.restart()
    assert new != FIXTURE_CORE_UUID
    event = con.recvEvent()
    assert event.getType() == "server_disconnected" or not con.connected()
    con = esl(peer)
    con.sendRecv("event json HEARTBEAT")
    peer.heartbeat()
    event = con.recvEventTimed(WAIT_MS)
    assert event.getHeader("Core-UUID") == new and event.getHeader("Event-Sequence") == "1"


def test_full_queue_loses_events_then_kills_the_slow_reader():
    with EslPeer(queue_limit=5) as peer:
        c = Raw(peer)
        c.auth()
        c.send(b"event json HEARTBEAT\n\n")
        c.frame()
        conn = peer.wait_subscribed(names=("HEARTBEAT",), custom=())[0]
        with conn.cond:                      # hold the writer so the queue fills
            for _ in range(520):
                peer.emit({"Event-Name": "HEARTBEAT"}, block=False)
        assert conn.lost > 500
        frames = []
        with pytest.raises(EOFError):
            while True:
                frames.append(c.frame())
        assert frames[-1][1] == b"killed listener because of lost events\n"


def test_silent_and_ignoring_peers():
    with EslPeer(greet=False) as peer:
        s = socket.create_connection(peer.address, timeout=0.3)
        with pytest.raises(socket.timeout):
            s.recv(10)
    with EslPeer(ignore={"api"}) as peer:
        c = Raw(peer)
        c.auth()
        c.sock.settimeout(0.3)               # the reply that never comes; auth had its time
        c.send(b"api status\n\n")
        with pytest.raises(socket.timeout):
            c.frame()
        assert peer.commands() == ["auth ClueCon", "api status"]


def test_disconnect_mid_frame_sends_half_a_frame(peer):
    c = Raw(peer)
    c.auth()
    c.send(b"event json HEARTBEAT\n\n")
    c.frame()
    peer.wait_subscribed(names=("HEARTBEAT",), custom=())
    peer.disconnect_mid_frame()
    data = b""
    while chunk := c.sock.recv(65536):
        data += chunk
    assert data.startswith(b"Content-Length: ") and len(data) < int(data.split(b"\n")[0][16:])


def test_phase_slices_cover_the_calls():
    call1 = phase_events("call1_caller_hangup")
    uuids = {w.event.get("Unique-ID") for w in call1}
    assert {"1f474b02-c679-4a1b-8803-115a722f4a65", "473d43ee-bcbe-4619-8938-cb517d079bb1"} <= uuids
    assert [w.event["Event-Subclass"] for w in phase_events("wait_expire")
            if w.name == "CUSTOM"] == ["sofia::expire"]
    with pytest.raises(KeyError):
        phase_events("nope")


def test_fs_url_encode_matches_the_captured_plain_session():
    assert fs_url_encode("sofia::register") == "sofia%3A%3Aregister"
    assert fs_url_encode("sofia/internal/1001@127.0.0.1") == "sofia/internal/1001%40127.0.0.1"
    assert fs_url_encode("2026-11-26 05:21:53") == "2026-11-26%2005%3A21%3A53"
    assert fs_url_encode("a%41b") == "a%41b" and fs_url_encode("50%") == "50%25"


def test_synthetic_calls_reach_a_python_esl_subscriber(peer):
    con = esl(peer)
    con.sendRecv("event json CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_HANGUP_COMPLETE")
    stats = SyntheticCalls().run(peer, calls=20, concurrency=4,
                                 extensions=[("2001", "3001"), ("2002", "3002")])
    assert stats.calls == 20 and stats.events == 20 * 6
    got = [json.loads(con.recvEventTimed(WAIT_MS).serialize("json")) for _ in range(stats.events)]
    assert con.recvEventTimed(100) is None
    legs = {}
    for e in got:
        legs.setdefault(e["Unique-ID"], []).append(e["Event-Name"])
        assert e["Core-UUID"] == FIXTURE_CORE_UUID and "1001" not in e["Channel-Name"]
    assert len(stats.uuids) == 20 and set(legs) == {u for pair in stats.uuids for u in pair}
    for names in legs.values():
        assert names == ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_HANGUP_COMPLETE"]
    seqs = [int(e["Event-Sequence"]) for e in got]
    assert seqs == sorted(seqs)


def test_renamed_events_keep_every_header_and_name_only_the_alias():
    import re

    from tests.eslpeer.aliases import renamed
    from tests.eslpeer.fixtures import wire_events

    user = re.compile(r"(?<![0-9A-Za-z-])100[12](?![0-9A-Za-z-])")
    seen = 0
    for w in wire_events():
        out = renamed(w, {"1001": "5011", "1002": "5012"})
        assert list(out) == list(w.event)                    # same headers, same order
        for k in ("Unique-ID", "Core-UUID", "Event-Sequence", "Event-Date-Timestamp"):
            assert out.get(k) == w.event.get(k)
        left = [k for k, v in out.items() if k != "Event-Sequence" and user.search(str(v))]
        assert left == [], (w.event.get("Event-Name"), left)
        seen += any("5011" in str(v) for v in out.values())
    assert seen > 100


def test_uuid_getvar_answers_the_variables_the_channel_events_carried(peer):
    a5, b5 = "7b12b60d-bb3e-4b17-9ee8-bc18e8ff15de", "f560aa35-82e1-4341-bf50-75684b32cd2e"
    events = phase_events("call5_eavesdrop")
    bridge = next(i for i, w in enumerate(events)
                  if w.event["Event-Name"] == "CHANNEL_BRIDGE" and w.event["Unique-ID"] == a5)
    con = esl(peer)
    getvar = f"api uuid_getvar {a5} signal_bond"
    assert con.sendRecv(getvar).getBody() == "-ERR No such channel!\n"
    peer.replay(events=events[:bridge])
    assert con.sendRecv(getvar).getBody() == "_undef_"          # not bridged yet
    peer.replay(events=events[bridge:bridge + 1])
    assert con.sendRecv(getvar).getBody() == b5
    peer.replay(events=events[bridge + 1:])
    assert con.sendRecv(getvar).getBody() == "-ERR No such channel!\n"   # destroyed


def test_a_registrations_snapshot_is_read_under_the_lock_and_rendered_outside_it(monkeypatch):
    """As FreeSWITCH renders a query's rows while its sessions fire events: a snapshot of
    thousands of registrations must not hold the node's events back meanwhile."""
    from tests.eslpeer import tables as tables_mod
    from tests.eslpeer.tables import PeerTables

    with EslPeer() as p:
        t = PeerTables(p, "fs1", "127.0.0.1")
        for ext in ("1001", "1002"):
            t.register(ext, f"{ext}-1@x")
        held = []
        real = tables_mod.escape
        monkeypatch.setattr(tables_mod, "escape", lambda s: held.append(t.lock.locked()) or real(s))
        text = t.xmlstatus()
    assert held and not any(held)
    assert text.count("<registration>") == 2 and "<call-id>1002-1@x</call-id>" in text
