"""EslClient and EslPool against the wire-level peer: exact bytes, bounded calls, two error kinds."""
import threading

import pytest

from app.config import FreeSwitchNode
from app.esl import commands as c
from app.esl import supervisor_commands as sc
from app.esl.connection import EslClient
from app.esl.errors import EslAuthFailed, EslCommandError, EslUnavailable
from app.esl.pool import EslPool
from tests.eslpeer import EslPeer
from tests.eslpeer.procs import wait_for
from tests.support.bounded import HANG, returns_within
from tests.support.net import HeldPort

UUID = "1f474b02-c679-4a1b-8803-115a722f4a65"
JOB = "6f2e5623-a609-426b-af08-7d6c2576a5b5"


@pytest.fixture
def peer():
    with EslPeer() as p:
        yield p


def esl_conns(peer):
    """Connections that authenticated (the throwaway greeting probes never do)."""
    return [conn for conn in peer.all_connections if conn.authed]


def test_api_sends_exactly_the_built_command(peer):
    with EslClient(peer.node("fs1"), timeout=2) as fs:
        assert fs.api(c.show_calls()) == '{"row_count": 0}\n'
        assert fs.api(c.xml_flush_cache("id", "1001", "127.0.0.1")) == "+OK cleared 1 entry\n"
    conn = esl_conns(peer)[0]
    assert conn.raw_in == (b"auth ClueCon\n\napi show calls as json\n\n"
                           b"api xml_flush_cache id 1001 127.0.0.1\n\n")


def test_err_reply_is_a_permanent_command_error_and_keeps_the_connection(peer):
    with EslClient(peer.node("fs1"), timeout=2) as fs:
        with pytest.raises(EslCommandError) as err:
            fs.api(sc.uuid_kill("00000000-0000-0000-0000-000000000000"))
        assert err.value.reply == "-ERR No such channel!\n"
        assert not isinstance(err.value, EslUnavailable)
        assert fs.usable and fs.api(c.strmicroepoch()).isdigit()


def test_bgapi_with_and_without_job_uuid(peer):
    cmd = sc.originate_eavesdrop("1003", "127.0.0.1", UUID, "61bcd62c-707b-4b99-9e4b-d63c916b317a")
    with EslClient(peer.node("fs1"), timeout=2) as fs:
        assert fs.bgapi(cmd, JOB) == JOB
        other = fs.bgapi(c.strmicroepoch())
        assert len(other) == 36 and other != JOB
        with pytest.raises(ValueError):
            fs.bgapi(cmd, JOB + "\nContent-Length: 5")
    pkts = esl_conns(peer)[0].packets
    assert pkts[1].raw == (f"bgapi originate {{origination_uuid=61bcd62c-707b-4b99-9e4b-d63c916b317a}}"
                           f"user/1003@127.0.0.1 &eavesdrop({UUID})\nJob-UUID: {JOB}\n\n").encode()
    assert pkts[2].raw == b"bgapi strmicroepoch\n\n" and len(pkts) == 3


def test_sendevent_packet_on_the_wire(peer):
    with EslClient(peer.node("fs1"), timeout=2) as fs:
        assert fs.sendevent(sc.eavesdrop_command(UUID, "3")).startswith("+OK ")
    assert peer.sendevents[0].raw == (b"sendevent CUSTOM\nEvent-Subclass: supervisor::cmd\n"
                                      b"Unique-ID: " + UUID.encode() + b"\neavesdrop-command: 3\n\n")
    assert peer.sendevents[0].headers["eavesdrop-command"] == "3"


def test_only_builder_output_is_accepted(peer):
    with EslClient(peer.node("fs1"), timeout=2) as fs:
        for bad in ("show calls as json", "uuid_kill x\n\napi system id"):
            with pytest.raises(TypeError):
                fs.api(bad)
        with pytest.raises(TypeError):
            fs.sendevent(c.event_subscriptions()[0])
    assert esl_conns(peer)[0].raw_in == b"auth ClueCon\n\n"


def test_refused_connection_is_unavailable_at_once():
    # At once: long before a timeout far above the bound (it does not wait for the timeout).
    with HeldPort() as dead:  # bound, never listening: refused, and nobody else can take it
        node = FreeSwitchNode("fs1", dead.host, dead.port, "ClueCon")
        with pytest.raises(EslUnavailable, match="cannot connect"):
            returns_within(lambda: EslClient(node, timeout=10 * HANG))


def test_wrong_password_is_reported_as_such():
    with EslPeer(password="secret") as peer:
        with pytest.raises(EslAuthFailed, match="refused the event-socket password"):
            EslClient(FreeSwitchNode("fs1", peer.host, peer.port, "ClueCon"), timeout=2)


def test_password_with_a_line_break_never_leaves_the_process(peer):
    with pytest.raises(EslAuthFailed, match="line break"):
        EslClient(FreeSwitchNode("fs1", peer.host, peer.port, "x\n\napi system id"), timeout=2)
    assert peer.all_connections == []


def test_silent_server_times_out_in_bounded_time():
    with EslPeer(greet=False) as peer:
        with pytest.raises(EslUnavailable, match="silent"):
            returns_within(lambda: EslClient(peer.node("fs1"), timeout=0.5))


def test_server_that_never_answers_auth_is_cut_off_and_no_thread_leaks():
    # The greeting probe passes, then python-ESL's constructor would wait forever. (The
    # timeout also bounds the probe: room enough for a busy machine to send the greeting.)
    with EslPeer(ignore={"auth"}) as peer:
        with pytest.raises(EslUnavailable, match="no answer to auth"):
            returns_within(lambda: EslClient(peer.node("fs1"), timeout=2))
        assert peer.commands() == ["auth ClueCon"]
    wait_for(lambda: not [t for t in threading.enumerate() if t.name.startswith("esl-connect-")],
             HANG, what="the rescued esl-connect thread to end")


def test_unanswered_command_times_out_and_closes(peer):
    peer.ignore = {"api"}
    fs = EslClient(peer.node("fs1"), timeout=5)
    fs.timeout = 0.5    # connected with room to spare; the command's bound is under test
    with pytest.raises(EslUnavailable, match="no reply within 0.5s"):
        returns_within(lambda: fs.api(c.show_channels()))
    assert not fs.usable
    with pytest.raises(EslUnavailable, match="closed"):
        fs.api(c.show_channels())


def test_disconnect_during_a_command_is_unavailable(peer):
    peer.api.on("show", lambda args: (peer.stop(), "")[1])
    with EslClient(peer.node("fs1"), timeout=2) as fs:
        with pytest.raises(EslUnavailable):
            fs.api(c.show_calls())


def test_pool_reuses_one_connection(peer):
    pool = EslPool(timeout=2)
    node = peer.node("fs1")
    for _ in range(5):
        assert pool.api(node, c.strmicroepoch()).isdigit()
    assert len(esl_conns(peer)) == 1
    pool.close_all()


def test_pool_replaces_a_connection_closed_by_a_restart(peer):
    pool = EslPool(timeout=2)
    node = peer.node("fs1")
    assert pool.api(node, c.global_getvar_core_uuid()) == peer.core_uuid
    new_uuid = peer.restart()
    peer.wait_for(lambda: not peer.connections)
    assert pool.api(node, c.global_getvar_core_uuid()) == new_uuid
    assert len(esl_conns(peer)) == 2
    pool.close_all()


def test_pool_keeps_connection_after_command_error_and_drops_it_after_failure(peer):
    pool = EslPool(timeout=2)    # connecting twice: room enough for a busy machine
    node = peer.node("fs1")
    with pytest.raises(EslCommandError):
        pool.api(node, sc.uuid_kill(UUID))
    assert pool.api(node, c.strmicroepoch())
    assert len(esl_conns(peer)) == 1
    peer.ignore = {"api"}
    with pytest.raises(EslUnavailable):
        pool.api(node, c.strmicroepoch())
    peer.ignore = set()
    assert pool.api(node, c.strmicroepoch())
    assert len(esl_conns(peer)) == 2
    pool.close_all()
