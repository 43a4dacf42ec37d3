"""The state after each step of the real capture (events.jsonl cut by phases.jsonl).

Each test replays the events created up to a phase's end, with "now" = that moment, into a
real Redis, and checks the exact SPEC outputs: `cti_userinfo@127.0.0.1`, the `registrations`
hash (gui.registration) and the `calls` hash (gui.call).
"""
import json

import pytest

from app.state.ingest import apply_events
from tests.support.replay import NODE, outputs, phase_us, slim_events, until

A1, B1 = "1f474b02-c679-4a1b-8803-115a722f4a65", "473d43ee-bcbe-4619-8938-cb517d079bb1"
A2, B2 = "0468a21c-b886-443d-8c69-38354aacfd17", "a5420c62-468f-419f-8dcc-21b36a445733"
A3, B3 = "62908549-3592-468c-a51c-d263f0702de7", "63c52c83-d536-405a-9f9e-e30b7a414690"
A4, B4 = "304f3de7-51fd-4481-820c-0122810e9e88", "06803fc9-16e7-4881-a4fc-e3a821ae3dad"
A5, B5, S5 = ("7b12b60d-bb3e-4b17-9ee8-bc18e8ff15de", "f560aa35-82e1-4341-bf50-75684b32cd2e",
              "61bcd62c-707b-4b99-9e4b-d63c916b317a")
A6, S6 = "e7066ba0-81b0-478e-bc24-25a39cdcf8d4", "987184a7-b644-4e00-b81e-f500626b4314"
A7, S7 = "77e68991-df64-4806-bd1c-fe1506e5d132", "8393ebdd-6f02-4df0-9748-52db0c02d702"


@pytest.fixture
def replay(rdb, settings):
    """replay(t_us) -> outputs after the events created up to t_us, judged at t_us."""
    events = slim_events(settings)

    def run(t_us, now=None):
        rdb.flushdb()
        apply_events(rdb, settings, NODE, until(events, t_us), now=now or t_us)
        return outputs(rdb)

    return run


def registered(out) -> dict:
    """extension -> call-id of its `register` binding."""
    return {x: v["register"]["call-id"] for x, v in out["userinfo"].items() if "register" in v}


def live(out, ext) -> list:
    return [c["Unique-ID"] for c in out["userinfo"].get(ext, {}).get("calls", [])]


def test_1003_registers_with_expires_20(replay, settings):
    out = replay(phase_us("reg_expire_candidate:end"))
    info = out["userinfo"]["1003"]
    assert info["FreeSWITCH-Switchname"] == "vm"
    assert info["register"] == {
        "Hostname": "vm", "IPv4": "192.0.2.2", "IPv6": "fd00::2",
        # the node is not in the test configuration: its FreeSWITCH address stands in
        "cluster_ip": "192.0.2.2", "cluster_port": "", "network-ip": "127.0.0.1",
        "user-agent": "SIPp-lab/3.7.7", "status": "Registered(UDP)",
        "Timestamp": "1795670519646843", "FreeSWITCH-Switchname": "vm", "call-id": "1-5531@127.0.0.1",
        "contact": '"" <sip:1003@127.0.0.1:5079>', "expires": "20", "network-port": "5079",
        "node": NODE, "profile-name": "internal", "registered-as": "1003"}
    assert info["calls"] == []
    # stored expiry = register time + 20 s granted + 60 s late margin, in whole seconds:
    # `show registrations` lists 1003 with expires 1795670599 (facts §4.3)
    assert info["bindings"][0]["expires-at"] == str(1795670599 * 1_000_000)
    # gui.registration: the whole sofia::register event, every header, as FreeSWITCH sent it
    from tests.support.replay import raw_events
    event = next(e for e in raw_events() if e.get("Event-Sequence") == "427")
    assert out["registrations"] == {"1003": event}
    assert out["calls"] == {}


def test_register_refresh_unregister_on_one_call_id(replay):
    # 1001 registers, refreshes, then unregisters (Expires: 0) on Call-ID 1-5533
    mid = replay(1795670522806895)                 # just after the refresh
    assert registered(mid) == {"1003": "1-5531@127.0.0.1", "1001": "1-5533@127.0.0.1"}
    assert mid["userinfo"]["1001"]["register"]["Timestamp"] == "1795670522806895"
    assert mid["registrations"]["1001"]["Event-Sequence"] == "437"
    out = replay(phase_us("reg_cycle_1001:end"))
    assert registered(out) == {"1003": "1-5531@127.0.0.1"}
    assert "1001" not in out["userinfo"] and "1001" not in out["registrations"]


def test_failed_registrations_change_nothing(replay):
    before = replay(phase_us("reg_cycle_1001:end"))
    after = replay(phase_us("reg_unknown_user_1009:end"))
    assert after == before


def test_1001_and_1002_register(replay):
    out = replay(phase_us("register_1001_1002:end"))
    assert registered(out) == {"1001": "1-5542@127.0.0.1", "1002": "1-5544@127.0.0.1",
                               "1003": "1-5531@127.0.0.1"}
    assert set(out["registrations"]) == {"1001", "1002", "1003"}
    assert out["calls"] == {}


def test_call1_bridged(replay):
    out = replay(phase_us("call1_caller_hangup:bridged"))
    assert out["userinfo"]["1001"]["calls"] == [{
        "Unique-ID": A1, "Created-Time": "1795670527106834", "Progress-Time": "1795670527126849",
        "Answered-Time": "1795670528146859", "Call-Direction": "inbound", "Call-Number": "1002",
        "Timestamp": "1795670528146859", "Signal-Bond": B1}]
    assert out["userinfo"]["1002"]["calls"] == [{
        "Unique-ID": B1, "Created-Time": "1795670527106834", "Progress-Time": "1795670527126849",
        "Answered-Time": "1795670528126833", "Call-Direction": "outbound", "Call-Number": "1001",
        "Timestamp": "1795670528146859", "Signal-Bond": A1}]
    assert out["calls"]["1001"] == {
        "username": "1001", "current": A1, "notify": "bridge",
        A1: {"Caller-Destination-Number": "1002", "Caller-Caller-ID-Number": "1001",
             "Caller-Callee-ID-Number": "1002", "Caller-Profile-Created-Time": "1795670527106834",
             "Caller-Channel-Answered-Time": "1795670528146859", "Caller-Channel-Hangup-Time": "0",
             "Caller-Channel-Progress-Time": "1795670527126849",
             "Caller-Channel-Progress-Media-Time": "1795670528146859", "Answer-State": "answered",
             "variable_signal_bond": B1},
        "activity": [A1]}
    # CHANNEL_BRIDGE fires on the A side only; the B leg's extension hears of it too
    assert out["calls"]["1002"]["current"] == B1 and out["calls"]["1002"]["notify"] == "bridge"
    assert out["calls"]["1002"]["activity"] == [B1]
    assert out["calls"]["1002"][B1]["Answer-State"] == "answered"


@pytest.mark.parametrize("t, a_state, b_state", [
    (1795670527106834, "callout", None),          # A created; B not yet
    (1795670527126849, "callout", "progress"),    # B created and ringing (same µs)
    (1795670527146838, "progress", "progress"),   # A: 180 relayed
    (1795670528126833, "progress", "answer"),     # B answers first
    (1795670528146859, "bridge", "bridge"),       # A answers, bridge
])
def test_call1_notify_sequence(replay, t, a_state, b_state):
    out = replay(t)
    assert out["calls"]["1001"]["notify"] == a_state
    if b_state is None:
        assert "1002" not in out["calls"]
    else:
        assert out["calls"]["1002"]["notify"] == b_state


@pytest.mark.parametrize("phase, a, b, a_cause, b_cause", [
    ("call1_caller_hangup:end", A1, B1, "NORMAL_CLEARING", "NORMAL_CLEARING"),
    ("call2_callee_hangup:end", A2, B2, "NORMAL_CLEARING", "NORMAL_CLEARING"),
    ("call3_callee_rejects_486:end", A3, B3, None, "USER_BUSY"),
    ("call4_uuid_kill:end", A4, B4, None, None),
])
def test_each_call_case_ends_hung_up(replay, rdb, phase, a, b, a_cause, b_cause):
    out = replay(phase_us(phase))
    for ext, uuid, other in (("1001", a, b), ("1002", b, a)):
        assert out["userinfo"][ext]["calls"] == []
        value = out["calls"][ext]
        # only the last hung-up call is kept (remove_hangup false), with its final fields
        assert value["current"] == uuid and value["notify"] == "hangup"
        assert value["activity"] == []
        assert set(value) == {"username", "current", "notify", "activity", uuid}
        assert value[uuid]["Answer-State"] == "hangup"
        assert value[uuid]["Caller-Channel-Hangup-Time"] != "0"
    from app.state.calls import find_call
    for uuid, cause in ((a, a_cause), (b, b_cause)):
        found = find_call(uuid, rdb)
        assert found["hungup"] is True and found["state"] == "hangup"
        if cause:
            assert found["hangup_cause"] == cause
    # call 3 was never answered
    if phase.startswith("call3"):
        assert out["calls"]["1001"][a]["Caller-Channel-Answered-Time"] == "0"


def test_registration_expires_by_its_stored_expiry_before_sofia_expire(replay):
    # 1003 registered at 519.646843 with 20 s: stored expiry 599 (20 + 60 margin, whole
    # seconds); sofia::expire only comes at 600.946871. Just before the stored expiry: registered.
    assert "1003" in registered(replay(1795670598_900000))
    out = replay(1795670599_000000)       # expiry reached, still without the expire event
    assert "1003" not in registered(out)
    assert "1003" not in out["registrations"]


def test_expire_phase(replay):
    out = replay(phase_us("wait_expire:end"))
    assert "1003" not in out["userinfo"] and "1003" not in out["registrations"]
    assert registered(out) == {"1001": "1-5542@127.0.0.1", "1002": "1-5544@127.0.0.1"}


def test_expire_event_alone_removes_even_when_judged_early(replay):
    # "now" before the stored expiry, but FreeSWITCH said sofia::expire: gone
    out = replay(phase_us("wait_expire:end"), now=1795670590_000000)
    assert "1003" not in registered(out)


@pytest.mark.parametrize("t, target, sup", [
    (1795670607_000000, A5, S5),      # eavesdrop
    (1795670624_000000, A6, S6),      # three_way
    (1795670641_000000, A7, S7),      # eavesdrop with whisper_aleg
])
def test_supervisor_leg_is_a_call_of_1003(replay, t, target, sup):
    out = replay(t)
    assert registered(out)["1003"] == "1-5640@127.0.0.1"      # re-registered after expiry
    assert live(out, "1001") == [target]
    assert len(live(out, "1002")) == 1
    # the originated supervisor leg (user/1003) is 1003's: outbound, answered, no bond
    (call,) = out["userinfo"]["1003"]["calls"]
    assert call["Unique-ID"] == sup and call["Call-Direction"] == "outbound"
    assert call["Answered-Time"] != "0" and call["Signal-Bond"] == ""
    assert out["calls"]["1003"]["notify"] == "answer" and out["calls"]["1003"]["activity"] == [sup]


def test_calls_5_to_7_end(replay):
    out = replay(phase_us("call7_eavesdrop_whisper_aleg:end"))
    for ext in ("1001", "1002", "1003"):
        assert out["userinfo"][ext]["calls"] == []
        assert out["calls"][ext]["notify"] == "hangup" and out["calls"][ext]["activity"] == []
    assert out["calls"]["1003"]["current"] == S7


def test_re_register_with_new_call_ids_newest_wins(replay):
    # cache demo: 1001 registers three times with three Call-IDs (multiple-registrations
    # off: each silently replaces the one before)
    out = replay(phase_us("cache_demo:end"))
    assert registered(out)["1001"] == "1-5887@127.0.0.1"
    assert [b["call-id"] for b in out["userinfo"]["1001"]["bindings"]] == ["1-5887@127.0.0.1"]
    assert out["registrations"]["1001"]["call-id"] == "1-5887@127.0.0.1"


def test_final_state_matches_freeswitch(replay):
    # 1002 unregisters with a new Call-ID: FreeSWITCH (multiple-registrations off) drops all
    # of 1002's rows; the final `sofia status` lists 1003 (1-5640) and 1001 (1-5887) only.
    out = replay(phase_us("run_end"))
    assert registered(out) == {"1001": "1-5887@127.0.0.1", "1003": "1-5640@127.0.0.1"}
    assert set(out["registrations"]) == {"1001", "1003"}
    assert "1002" not in out["userinfo"]
    assert json.loads(json.dumps(out["calls"]["1002"]))["notify"] == "hangup"
