"""Merge rules of the state scripts, one behaviour at a time, on real events (real Redis)."""
import dataclasses
import json

from app.state import generation, keys
from app.state.calls import calls_of, find_call, list_calls
from app.state.ingest import apply_events
from tests.support.replay import NODE, by_seq, outputs, slim_events

A1, B1 = "1f474b02-c679-4a1b-8803-115a722f4a65", "473d43ee-bcbe-4619-8938-cb517d079bb1"
NOW = 1795670656_000000
CALL1 = (472, 487, 492, 494, 497, 502, 504, 508, 520, 521, 524, 533, 534, 530, 536)


def with_gui(settings, **call_or_reg):
    """Settings with parts of the gui section replaced."""
    gui = {"registration": dict(settings.gui["registration"], **call_or_reg.get("registration", {})),
           "call": dict(settings.gui["call"], **call_or_reg.get("call", {}))}
    return dataclasses.replace(settings, gui=gui)


def with_state(settings, **state):
    return dataclasses.replace(settings, state=dict(settings.state, **state))


def reg_event(settings, seq, **changes):
    """A copy of a real sofia::register / unregister with some headers changed."""
    (event,) = by_seq(settings, seq)
    event.update({k.replace("_", "-"): v for k, v in changes.items()})
    return event


def apply(rdb, settings, events, now=NOW):
    return apply_events(rdb, settings, NODE, events, now=now)


def test_duplicates_change_nothing(rdb, settings):
    events = slim_events(settings)
    apply(rdb, settings, events)
    once = outputs(rdb)
    apply(rdb, settings, events)
    apply(rdb, settings, events[::-1])
    assert outputs(rdb) == once


def test_hung_up_call_never_comes_back(rdb, settings):
    apply(rdb, settings, by_seq(settings, *CALL1))
    # late copies of CREATE / ANSWER / BRIDGE of the A leg
    apply(rdb, settings, by_seq(settings, 472, 504, 508))
    assert calls_of("127.0.0.1", "1001", rdb) == []
    assert find_call(A1, rdb)["hungup"] is True
    assert json.loads(rdb.hget("calls", "1001"))["notify"] == "hangup"
    assert rdb.zcard(keys.node_channels(NODE)) == 0
    # tombstones expire; live records do not
    assert 0 < rdb.ttl(keys.channel(A1)) <= settings.state["tombstone_ttl"]


def test_bridge_before_the_b_leg_exists(rdb, settings):
    apply(rdb, settings, by_seq(settings, 508))          # A's BRIDGE alone first
    assert calls_of("127.0.0.1", "1002", rdb) == []      # B's owner not known yet
    assert rdb.ttl(keys.channel(B1)) > 0                  # an ownerless record, with a TTL
    apply(rdb, settings, by_seq(settings, 472, 487, 492, 494, 497, 502, 504))
    (b,) = calls_of("127.0.0.1", "1002", rdb)
    assert b["uuid"] == B1 and b["state"] == "bridge" and b["signal_bond"] == A1
    assert rdb.ttl(keys.channel(B1)) == -1               # owned and live: no TTL


def test_leg_of_no_extension_is_ignored(rdb, settings):
    events = by_seq(settings, 472, 494, 504, 520)
    for e in events:
        del e["variable_user_name"]
    result = apply(rdb, settings, events)
    assert result.applied == 0 and result.ignored == 4
    assert not rdb.exists(keys.channel(A1))
    assert outputs(rdb)["calls"] == {}


def test_remove_hangup_true(rdb, settings):
    s = with_gui(settings, call={"remove_hangup": True})
    apply(rdb, s, by_seq(s, *CALL1))
    value = json.loads(rdb.hget("calls", "1001"))
    assert value == {"username": "1001", "current": A1, "notify": "hangup", "activity": []}


def test_only_the_last_hung_up_call_is_kept(rdb, settings):
    apply(rdb, settings, slim_events(settings))
    value = json.loads(rdb.hget("calls", "1001"))
    calls = [k for k in value if k not in ("username", "current", "notify", "activity")]
    assert calls == [value["current"]] == ["77e68991-df64-4806-bd1c-fe1506e5d132"]


def test_call_channel_and_list_get_each_change(rdb, settings):
    s = with_gui(settings, call={"channel": "calls-ch", "list": "calls-list", "list_max": 3})
    pubsub = rdb.pubsub()
    pubsub.subscribe("calls-ch")
    pubsub.get_message(timeout=1)
    apply(rdb, s, by_seq(s, *CALL1))
    seen = []
    while (msg := pubsub.get_message(timeout=0.2)) is not None:
        seen.append(json.loads(msg["data"]))
    pubsub.close()
    # every change of the value is pushed (a new state, or new fields such as a time)
    def states(ext):
        notes = [m["notify"] for m in seen if m["username"] == ext]
        return [n for i, n in enumerate(notes) if i == 0 or notes[i - 1] != n]

    assert states("1001") == ["callout", "progress", "answer", "bridge", "hangup"]
    assert states("1002") == ["callin", "progress", "answer", "bridge", "hangup"]
    assert len(seen) == len({json.dumps(m, sort_keys=True) for m in seen})   # no repeats
    # the list is capped at list_max, newest last
    assert [json.loads(v)["notify"] for v in rdb.lrange("calls-list", 0, -1)] == \
        [m["notify"] for m in seen[-3:]]
    # replaying the same events is no change: nothing more is pushed
    before = rdb.lrange("calls-list", 0, -1)
    apply(rdb, s, by_seq(s, *CALL1))
    assert rdb.lrange("calls-list", 0, -1) == before


def test_registration_channel_list_and_hash_off(rdb, settings):
    s = with_gui(settings, registration={"hash": "", "channel": "reg-ch", "list": "reg-list"})
    apply(rdb, s, by_seq(s, 432, 437, 442))      # register, refresh, unregister (1001)
    pushed = [json.loads(v) for v in rdb.lrange("reg-list", 0, -1)]
    assert [(p["Event-Subclass"], p["Event-Sequence"]) for p in pushed] == [
        ("sofia::register", "432"), ("sofia::register", "437"), ("sofia::unregister", "442")]
    assert not rdb.exists("registrations")
    assert "1001" not in outputs(rdb, gui=s.gui)["userinfo"]


def test_expiry_without_event_is_pushed_as_expire(rdb, settings):
    s = with_gui(settings, registration={"list": "reg-list"})
    apply(rdb, s, by_seq(s, 427), now=1795670520_000000)
    apply(rdb, s, [], now=1795670600_000000)          # nothing happens without a sweep
    from app.state.sweep import expire_bindings
    assert expire_bindings(rdb, s, NODE, now=1795670600_000000) == 0
    last = json.loads(rdb.lrange("reg-list", -1, -1)[0])
    assert last["Event-Subclass"] == "sofia::expire" and last["username"] == "1003"
    assert last["fscti-reason"] == "expired"
    assert not rdb.hexists("registrations", "1003")
    assert not rdb.hexists(keys.userinfo("127.0.0.1"), "1003")


def test_multiple_registrations_keep_every_binding(rdb, settings):
    s = with_state(settings, multiple_registrations=True)
    desk = reg_event(s, 454)                                          # 1-5542, port 5071
    soft = reg_event(s, 454, call_id="soft-1", contact='"" <sip:1001@10.0.0.9:5090>',
                     network_port="5090", Event_Sequence="460",
                     Event_Date_Timestamp="1795670527000000", user_agent="softphone")
    soft["Event-Sequence"], soft["Event-Date-Timestamp"] = "460", "1795670527000000"
    apply(rdb, s, [soft, desk])
    info = outputs(rdb)["userinfo"]["1001"]
    assert info["register"]["call-id"] == "soft-1"                     # the newest binding
    assert [b["call-id"] for b in info["bindings"]] == ["soft-1", "1-5542@127.0.0.1"]
    # the desk phone unregisters: the softphone still holds the extension
    bye = reg_event(s, 442, call_id="1-5542@127.0.0.1")
    bye["Event-Sequence"], bye["Event-Date-Timestamp"] = "470", "1795670528000000"
    apply(rdb, s, [bye])
    info = outputs(rdb)["userinfo"]["1001"]
    assert [b["call-id"] for b in info["bindings"]] == ["soft-1"]
    assert json.loads(rdb.hget("registrations", "1001"))["call-id"] == "soft-1"


def test_single_registration_newest_register_replaces_silently(rdb, settings):
    first = reg_event(settings, 454)
    second = reg_event(settings, 454, call_id="other")
    second["Event-Sequence"], second["Event-Date-Timestamp"] = "460", "1795670527000000"
    for order in ([first, second], [second, first]):
        rdb.flushdb()
        apply(rdb, settings, order)
        info = outputs(rdb)["userinfo"]["1001"]
        assert [b["call-id"] for b in info["bindings"]] == ["other"]


def test_unregister_with_unknown_call_id_removes_older_bindings_only(rdb, settings):
    # facts §4.3: with multiple-registrations off an unregister removes the user's rows
    apply(rdb, settings, by_seq(settings, 454, 1078))           # 1001 binding; 1002's unregister
    bye = reg_event(settings, 1078, from_user="1001", username="1001")
    bye["Event-Sequence"], bye["Event-Date-Timestamp"] = "500", "1795670530000000"
    later = reg_event(settings, 454, call_id="after")
    later["Event-Sequence"], later["Event-Date-Timestamp"] = "600", "1795670540000000"
    apply(rdb, settings, [later, bye])                             # delivered out of order
    info = outputs(rdb)["userinfo"]["1001"]
    assert [b["call-id"] for b in info["bindings"]] == ["after"]


def test_core_uuid_change_drops_the_node_calls_keeps_registrations(rdb, settings):
    apply(rdb, settings, by_seq(settings, 454, 458, 472, 487, 492, 494, 497, 502, 504, 508))
    assert [c["uuid"] for c in list_calls(client=rdb)] == [A1, B1]
    heartbeat = by_seq(settings, 512)[0]
    heartbeat["Core-UUID"] = "11111111-2222-3333-4444-555555555555"
    heartbeat["Event-Sequence"] = "3"
    result = apply(rdb, settings, [heartbeat])
    assert result.removed == 2
    assert list_calls(client=rdb) == []
    out = outputs(rdb)
    assert out["calls"]["1001"]["notify"] == "hangup" and out["calls"]["1001"]["activity"] == []
    assert set(k for k, v in out["userinfo"].items() if "register" in v) == {"1001", "1002"}
    # a late event of the old core does not bring the call back
    apply(rdb, settings, by_seq(settings, 508))          # BRIDGE again
    assert list_calls(client=rdb) == []
    assert rdb.hget(keys.node(NODE), "core") == "11111111-2222-3333-4444-555555555555"


def test_old_core_events_after_the_new_core_is_known(rdb, settings):
    heartbeat = by_seq(settings, 512)[0]
    heartbeat["Core-UUID"] = "11111111-2222-3333-4444-555555555555"
    heartbeat["Event-Date-Timestamp"] = "1795670600000000"
    apply(rdb, settings, [heartbeat])
    apply(rdb, settings, by_seq(settings, 472, 487, 504, 508))     # late, old core
    assert list_calls(client=rdb) == []


def test_background_job_result_stored_once(rdb, settings):
    job = "6f2e5623-a609-426b-af08-7d6c2576a5b5"
    apply(rdb, settings, by_seq(settings, 798, 798))
    apply(rdb, settings, by_seq(settings, 798))
    (raw,) = rdb.lrange(keys.job_result(job), 0, -1)
    assert json.loads(raw)["body"] == "+OK 61bcd62c-707b-4b99-9e4b-d63c916b317a\n"
    assert 0 < rdb.ttl(keys.job_result(job)) <= settings.state["job_result_ttl"]


def test_clock_offset_from_events(rdb, settings):
    events = by_seq(settings, 472, 487)
    events[0]["_received"] = 1795670527.106834 + 0.010      # 10 ms in transit
    events[1]["_received"] = 1795670527.126849 + 0.002      # 2 ms: the better sample
    apply(rdb, settings, events)
    assert int(rdb.hget(keys.node(NODE), "offset")) == -2000


def test_list_calls_filters(rdb, settings):
    apply(rdb, settings, by_seq(settings, 472, 487, 492, 494, 497, 502, 504, 508))
    assert [c["uuid"] for c in list_calls(domain="127.0.0.1", client=rdb)] == [A1, B1]
    assert [c["uuid"] for c in list_calls(domain="127.0.0.1", extension="1002", client=rdb)] == [B1]
    assert [c["uuid"] for c in list_calls(extension="1001", client=rdb)] == [A1]
    assert list_calls(node="other", client=rdb) == []
    assert list_calls(domain="example.com", client=rdb) == []
    a = find_call(A1, rdb)
    assert a == {**a, "node": NODE, "domain": "127.0.0.1", "extension": "1001",
                 "direction": "inbound", "state": "bridge", "signal_bond": B1,
                 "created_time": "1795670527106834", "answered_time": "1795670528146859",
                 "hungup": False, "core_uuid": "8050275d-5ad7-48bd-8327-686409e2b53c"}
    assert find_call("not-a-uuid", rdb) is None
    assert find_call("00000000-0000-0000-0000-000000000000", rdb) is None


def test_dead_bindings_are_forgotten_after_the_tombstone_ttl(rdb, settings):
    ttl_s = 60
    s = with_state(settings, tombstone_ttl=ttl_s)
    apply(rdb, s, by_seq(s, 432, 442), now=1795670526_000000)
    assert rdb.hexists(keys.reg_state("127.0.0.1"), "1001")     # the tombstone
    apply(rdb, s, [reg_event(s, 454)], now=1795670526_000000 + ttl_s * 1_000_000 + 1)
    state = json.loads(rdb.hget(keys.reg_state("127.0.0.1"), "1001"))
    assert list(state["b"]) == [f"{NODE}\tinternal\t1-5542@127.0.0.1"]


def test_hangup_dominates_later_events_of_the_leg(rdb, settings):
    # call 1: A's CHANNEL_HANGUP (seq 520) is followed by its CHANNEL_UNBRIDGE (seq 524)
    apply(rdb, settings, by_seq(settings, 472, 504, 508, 520, 524))
    value = json.loads(rdb.hget("calls", "1001"))
    assert value["notify"] == "hangup" and value["activity"] == []
    assert find_call(A1, rdb)["state"] == "hangup"


def test_userinfo_registration_part_follows_each_batch_time_between_call_events(rdb, settings):
    # A call event does not re-read the registration record: the registration part of
    # cti_userinfo is kept beside it until its first expiry. It must still be what the
    # record gives at each batch's time: expired at 600, alive again for a batch judged at
    # 590 (a worker whose clock is behind), and gone with the last binding.
    apply(rdb, settings, by_seq(settings, 427), now=1795670520_000000)   # 1003, expiry 599
    (create,) = by_seq(settings, 472)
    create.update({"variable_user_name": "1003", "Unique-ID": "0b6f8d2e-0000-4000-8000-000000000003"})

    def info(now):
        apply(rdb, settings, [dict(create)], now=now)
        return outputs(rdb)["userinfo"]["1003"]

    first = info(1795670590_000000)
    assert first["register"]["call-id"] == first["bindings"][0]["call-id"]
    assert len(first["calls"]) == 1
    later = info(1795670600_000000)
    assert "register" not in later and "bindings" not in later and len(later["calls"]) == 1
    assert info(1795670590_000000) == first
    assert info(1795670598_000000) == first
    # two phones: the part saved at 600 holds the later one only; at 590 both live
    s = with_state(settings, multiple_registrations=True)
    soft = reg_event(s, 427, call_id="soft-1003", expires="3600")
    soft["Event-Sequence"], soft["Event-Date-Timestamp"] = "428", "1795670520000000"
    apply(rdb, s, [soft], now=1795670590_000000)
    apply(rdb, s, [dict(create)], now=1795670600_000000)
    assert [b["call-id"] for b in outputs(rdb)["userinfo"]["1003"]["bindings"]] == ["soft-1003"]
    apply(rdb, s, [dict(create)], now=1795670590_000000)
    assert len(outputs(rdb)["userinfo"]["1003"]["bindings"]) == 2
    # every phone gone: no registration part left beside the record
    for call_id, seq in (("soft-1003", "430"), (by_seq(s, 427)[0]["call-id"], "431")):
        bye = reg_event(s, 427, Event_Subclass="sofia::unregister", call_id=call_id)
        bye["Event-Sequence"], bye["Event-Date-Timestamp"] = seq, "1795670521000000"
        apply(rdb, s, [bye], now=1795670590_000000)
    apply(rdb, s, [dict(create)], now=1795670590_000000)
    assert "register" not in outputs(rdb)["userinfo"]["1003"]
    assert not rdb.hexists(keys.reg_state("127.0.0.1"), "1003\tui")


def test_a_batch_sent_as_json_gives_the_same_state_as_messagepack(rdb, settings, monkeypatch):
    """The script takes the batch in MessagePack (what run_ops sends) or, for what msgspec
    cannot encode, JSON: both give the same records and outputs."""
    import msgspec

    from app.state import ingest

    assert ingest._encode({"ops": [{"k": "n", "st": "1"}]})[1] == "m"
    assert ingest._encode({"ops": [{"k": "c", "u": "\ud800"}]})[1] == "j"   # lone surrogate
    events = slim_events(settings)
    apply(rdb, settings, events)
    as_msgpack = outputs(rdb), sorted(rdb.keys("*"))
    rdb.flushdb()
    generation.stamp(rdb)          # the marker the test's fresh database started with
    monkeypatch.setattr(ingest, "_encode", lambda batch: (msgspec.json.encode(batch), "j"))
    apply(rdb, settings, events)
    assert (outputs(rdb), sorted(rdb.keys("*"))) == as_msgpack
