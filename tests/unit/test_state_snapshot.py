"""Snapshots (sofia xmlstatus, show channels/calls) parsed from the real outputs and merged."""
import json

import pytest

from app.state import keys
from app.state.calls import calls_of, find_call, list_calls
from app.state.ingest import apply_events
from app.state.resync import apply_snapshot, drop_core
from app.state.snapshot import (SnapshotError, channel_bonds, parse_microepoch, parse_show_json,
                                parse_xmlstatus_reg)
from tests.support.replay import NODE, api_output, by_seq, outputs, phase_us, slim_events, until
from tests.support.snapshots import FS1, T_CALL, T_REG, XML, snap

A1, B1 = "1f474b02-c679-4a1b-8803-115a722f4a65", "473d43ee-bcbe-4619-8938-cb517d079bb1"


def registered(rdb) -> dict:
    return {x: v["register"]["call-id"] for x, v in outputs(rdb)["userinfo"].items()
            if "register" in v}


def test_parse_xmlstatus_reg():
    rows = parse_xmlstatus_reg(XML)
    assert [r["user"] for r in rows] == ["1003@127.0.0.1", "1001@127.0.0.1", "1002@127.0.0.1"]
    first = rows[0]
    assert first == {**first, "call-id": "1-5531@127.0.0.1", "contact": '"" <sip:1003@127.0.0.1:5079>',
                     "agent": "SIPp-lab/3.7.7", "status": "Registered(UDP)", "rpid": "unknown",
                     "expsecs": 73, "network-ip": "127.0.0.1", "network-port": "5079",
                     "host": "vm", "sip-auth-user": "1003"}
    assert rows[1]["expsecs"] == 3660


def test_parse_xmlstatus_empty_and_broken():
    empty = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n  </registrations>\n</profile>\n'
    assert parse_xmlstatus_reg(empty) == []
    assert parse_xmlstatus_reg("") == []
    with pytest.raises(SnapshotError):
        parse_xmlstatus_reg("-ERR Invalid Profile!\n<")


def test_parse_show_json():
    rows = parse_show_json(api_output("api show channels as json", "call up"))
    assert [r["uuid"] for r in rows] == [A1, B1]
    assert parse_show_json(api_output("api show channels as json", "final")) == []
    bonds = channel_bonds(parse_show_json(api_output("api show calls as json", "call up")))
    assert bonds == {A1: B1, B1: A1}
    for bad in ("", "[1]", '{"rows": 3}', "-ERR no reply"):
        with pytest.raises(SnapshotError):
            parse_show_json(bad)
    assert parse_microepoch("1795670529686854") == 1795670529686854
    with pytest.raises(SnapshotError):
        parse_microepoch("-ERR")


def test_snapshot_adds_missing_registrations(rdb, settings):
    # only 1003's register reached us; FreeSWITCH also has 1001 and 1002
    apply_events(rdb, settings, NODE, by_seq(settings, 427), now=T_REG)
    result = apply_snapshot(rdb, settings, FS1, snap(T_REG))
    assert result.removed == 0
    assert registered(rdb) == {"1003": "1-5531@127.0.0.1", "1001": "1-5542@127.0.0.1",
                               "1002": "1-5544@127.0.0.1"}
    info = outputs(rdb)["userinfo"]["1001"]["register"]
    assert info == {**info, "status": "Registered(UDP)", "network-ip": "127.0.0.1",
                    "cluster_ip": "10.1.2.3", "cluster_port": "8021", "fscti-source": "resync"}
    stand_in = json.loads(rdb.hget("registrations", "1001"))
    assert stand_in["Event-Subclass"] == "sofia::register" and stand_in["fscti-source"] == "resync"
    # the event that was real stays the value for 1003
    assert json.loads(rdb.hget("registrations", "1003"))["Event-Sequence"] == "427"
    # expiry from EXPSECS(3660), which already counts the late margin
    assert rdb.zscore(keys.node_bindings(NODE),
                      keys.binding_member("127.0.0.1", "1001", NODE, "internal",
                                          "1-5542@127.0.0.1")) == (T_REG // 1_000_000 + 3660) * 1_000_000
    # a late real register event (older than the snapshot) replaces the stand-in value
    apply_events(rdb, settings, NODE, by_seq(settings, 454), now=T_REG)
    assert json.loads(rdb.hget("registrations", "1001"))["Event-Sequence"] == "454"


def test_snapshot_changes_nothing_when_in_sync(rdb, settings):
    t = phase_us("register_1001_1002:end")
    apply_events(rdb, settings, NODE, until(slim_events(settings), t), now=T_REG)
    before = outputs(rdb)
    apply_snapshot(rdb, settings, FS1, snap(T_REG))
    assert outputs(rdb) == before


def test_snapshot_removes_a_binding_whose_unregister_was_lost(rdb, settings):
    apply_events(rdb, settings, NODE, by_seq(settings, 427, 432, 437), now=T_REG)  # no 442
    assert registered(rdb)["1001"] == "1-5533@127.0.0.1"
    result = apply_snapshot(rdb, settings, FS1, snap(T_REG))
    assert result.removed == 1
    assert registered(rdb)["1001"] == "1-5542@127.0.0.1"
    # the lost unregister arriving now changes nothing more
    apply_events(rdb, settings, NODE, by_seq(settings, 442), now=T_REG)
    assert registered(rdb)["1001"] == "1-5542@127.0.0.1"


def test_register_newer_than_the_snapshot_survives_it(rdb, settings):
    # 1001 re-registers with a new Call-ID after FreeSWITCH answered the snapshot
    later = by_seq(settings, 1071)[0]            # 1-5887, at 652.49: newer than T_REG
    apply_events(rdb, settings, NODE, [later], now=T_REG)
    apply_snapshot(rdb, settings, FS1, snap(T_REG))
    assert registered(rdb)["1001"] == "1-5887@127.0.0.1"


def test_snapshot_adds_calls_we_missed(rdb, settings):
    rdb.hset(keys.exten("127.0.0.1"), mapping={"1001": "{}", "1002": "{}"})
    apply_events(rdb, settings, NODE, by_seq(settings, 454, 458), now=T_CALL)
    apply_snapshot(rdb, settings, FS1, snap(
        T_CALL, channels=api_output("api show channels as json", "call up"),
        calls=api_output("api show calls as json", "call up")))
    (a,) = calls_of("127.0.0.1", "1001", rdb)
    assert a == {**a, "uuid": A1, "direction": "inbound", "state": "answer",
                 "answer_state": "answered", "signal_bond": B1, "destination_number": "1002",
                 "created_time": "1795670527000000"}
    (b,) = calls_of("127.0.0.1", "1002", rdb)
    assert b["uuid"] == B1 and b["signal_bond"] == A1 and b["direction"] == "outbound"
    assert outputs(rdb)["userinfo"]["1001"]["calls"][0]["Call-Number"] == "1002"
    # the real events, late: the hang-up ends it
    apply_events(rdb, settings, NODE, by_seq(settings, 472, 504, 508, 520, 521, 534, 536),
                 now=T_CALL)
    assert list_calls(client=rdb) == []


def test_snapshot_adopts_only_directory_users(rdb, settings):
    apply_snapshot(rdb, settings, FS1, snap(
        T_CALL, channels=api_output("api show channels as json", "call up")))
    assert list_calls(client=rdb) == []


def test_calls_freeswitch_no_longer_has_hang_up(rdb, settings):
    t = phase_us("call1_caller_hangup:bridged")
    apply_events(rdb, settings, NODE, until(slim_events(settings), t), now=t)
    assert len(list_calls(client=rdb)) == 2
    # the hang-up events were lost; FreeSWITCH is idle
    result = apply_snapshot(rdb, settings, FS1, snap(T_CALL + 10_000_000, reg=XML))
    assert result.removed == 2
    out = outputs(rdb)
    assert out["calls"]["1001"]["notify"] == "hangup" and out["userinfo"]["1001"]["calls"] == []
    assert find_call(A1, rdb)["hungup"] is True


def test_calls_with_recent_events_survive_a_lagging_snapshot(rdb, settings):
    t = phase_us("call1_caller_hangup:bridged")
    apply_events(rdb, settings, NODE, until(slim_events(settings), t), now=t)
    # `show channels` lags the events: a snapshot within resync_lag_margin keeps them
    result = apply_snapshot(rdb, settings, FS1, snap(t + 1_000_000))
    assert result.removed == 0 and len(list_calls(client=rdb)) == 2


def test_snapshot_never_revives_a_hung_up_call(rdb, settings):
    rdb.hset(keys.exten("127.0.0.1"), mapping={"1001": "{}", "1002": "{}"})
    t = phase_us("call1_caller_hangup:end")
    apply_events(rdb, settings, NODE, until(slim_events(settings), t), now=t)
    # a stale snapshot that still lists call 1
    apply_snapshot(rdb, settings, FS1, snap(
        t, channels=api_output("api show channels as json", "call up"),
        calls=api_output("api show calls as json", "call up")))
    assert list_calls(client=rdb) == []


def test_changed_core_drops_calls_at_once(rdb, settings):
    t = phase_us("call1_caller_hangup:bridged")
    apply_events(rdb, settings, NODE, until(slim_events(settings), t), now=t)
    result = drop_core(rdb, settings, NODE, "99999999-2222-3333-4444-555555555555", now=t + 1000)
    assert result.removed == 2
    assert list_calls(client=rdb) == []
    assert registered(rdb) == {"1001": "1-5542@127.0.0.1", "1002": "1-5544@127.0.0.1",
                               "1003": "1-5531@127.0.0.1"}


def test_a_snapshot_split_into_many_script_runs_merges_as_one(rdb, settings, monkeypatch):
    """A node with more rows than MAX_OPS_PER_CALL (a resync of thousands of phones) is
    applied in several short script runs: the state must end the same as from one run."""
    from app.state import ingest

    def run(max_ops):
        rdb.flushdb()
        monkeypatch.setattr(ingest, "MAX_OPS_PER_CALL", max_ops)
        rdb.hset(keys.exten("127.0.0.1"), mapping={"1001": "{}", "1002": "{}", "1003": "{}"})
        # a call up and a registration whose unregister was lost, then the snapshot
        t = phase_us("call1_caller_hangup:bridged")
        apply_events(rdb, settings, NODE, until(slim_events(settings), t), now=t)
        result = apply_snapshot(rdb, settings, FS1, snap(
            T_CALL, reg=XML, channels=api_output("api show channels as json", "call up"),
            calls=api_output("api show calls as json", "call up")))
        return result.applied, result.removed, outputs(rdb), sorted(
            (c["uuid"], c["state"]) for c in list_calls(client=rdb))

    whole = run(10_000)
    assert whole[3]                                   # the call is up in the snapshot
    assert run(1) == whole
    assert run(2) == whole


def test_the_pass_over_the_whole_node_runs_alone_when_a_batch_is_split(monkeypatch):
    from app.state import ingest
    monkeypatch.setattr(ingest, "MAX_OPS_PER_CALL", 2)
    ops = [{"k": "n"}, {"k": "rs", "i": 0}] + [{"k": "r", "i": i} for i in range(5)] + [
        {"k": "c", "i": 9}, {"k": "cs"}]
    chunks = ingest._chunks(ops)
    assert [op for c in chunks for op in c] == ops              # every op, in order
    assert [[op["k"] for op in c] for c in chunks] == [
        ["n"], ["rs"], ["r", "r"], ["r", "r"], ["r", "c"], ["cs"]]
    assert ingest._chunks(ops[:2]) == [ops[:2]]                # short: one run, as it is
