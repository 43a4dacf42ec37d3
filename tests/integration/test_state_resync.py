"""Resync against a wire-level event-socket peer (real TCP, python-ESL): the commands sent,
the snapshot merged, the task's retry and core-change behaviour."""
import dataclasses

import pytest

from app.esl.errors import EslUnavailable
from app.state import keys
from app.state.calls import list_calls
from app.state.ingest import apply_events
from app.state.resync import resync_node
from tests.eslpeer import EslPeer
from tests.support.replay import NODE, api_output, outputs, phase_us, slim_events, until

XML = api_output("api sofia xmlstatus profile internal reg")
T_REG = 1795670526_500000


def with_node(settings, peer):
    node = dataclasses.replace(peer.node(NODE), profiles=("internal",))
    return dataclasses.replace(settings, freeswitch=[node], esl_connect_timeout=3.0)


def registered(rdb):
    return {x: v["register"]["call-id"] for x, v in outputs(rdb)["userinfo"].items()
            if "register" in v}


@pytest.fixture
def peer():
    with EslPeer(api={"strmicroepoch": str(T_REG),
                      "sofia xmlstatus profile internal reg": XML}) as p:
        yield p


def test_resync_sends_the_snapshot_commands_and_merges(rdb, settings, peer):
    s = with_node(settings, peer)
    apply_events(rdb, s, NODE, until(slim_events(s), phase_us("reg_expire_candidate:end")),
                 now=T_REG)
    summary = resync_node(rdb, s, NODE, "connect")
    assert [c for c in peer.commands() if c.startswith("api ")] == [
        "api global_getvar core_uuid", "api strmicroepoch",
        "api sofia xmlstatus profile internal reg", "api show channels as json",
        "api show calls as json"]
    assert summary["core_uuid"] == peer.core_uuid and summary["t"] == T_REG
    assert registered(rdb) == {"1003": "1-5531@127.0.0.1", "1001": "1-5542@127.0.0.1",
                               "1002": "1-5544@127.0.0.1"}
    node = rdb.hgetall(keys.node(NODE))
    assert node["resync_reason"] == "connect" and node["core"] == peer.core_uuid
    assert node["resync_token"] == "0"                 # no lease asked for it
    # the exact clock offset from strmicroepoch (the peer's clock is set in the past)
    assert int(node["offset"]) < -60_000_000


def test_core_change_drops_calls_even_when_freeswitch_is_unreachable(rdb, settings):
    with EslPeer() as gone:
        s = with_node(settings, gone)
    t = phase_us("call1_caller_hangup:bridged")
    apply_events(rdb, s, NODE, until(slim_events(s), t), now=t)
    assert len(list_calls(client=rdb)) == 2
    with pytest.raises(EslUnavailable):
        resync_node(rdb, s, NODE, "core-uuid-changed", "12345678-1234-1234-1234-123456789abc")
    assert list_calls(client=rdb) == []
    assert rdb.hget(keys.node(NODE), "core") == "12345678-1234-1234-1234-123456789abc"


@pytest.fixture
def resync_unreachable(app, settings, monkeypatch):
    """The resync task, with the one configured node a closed port (nothing listens)."""
    from app import quiet
    from workers.tasks.state import resync

    with EslPeer() as gone:
        s = with_node(settings, gone)
    monkeypatch.setitem(app.config, "FSCTI", s)
    quiet.forget()
    return resync


def test_resync_task_retries_while_freeswitch_is_down_then_gives_up_quietly(
        rdb, resync_unreachable, caplog):
    resync = resync_unreachable
    result = resync.apply(args=(NODE, "connect", None))
    # apply() runs eagerly, and so do its retries: each one refused, then the last gives up
    assert result.state == "SUCCESS"
    assert result.result == {"node": NODE, "status": "unreachable", "reason": "connect"}
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and not any(r.exc_info for r in caplog.records)


def test_periodic_resync_of_an_unreachable_node_warns_once_without_a_traceback(
        rdb, resync_unreachable, caplog):
    from app import quiet

    resync = resync_unreachable
    results = [resync.apply(args=(NODE, "periodic", None)) for _ in range(3)]
    assert [(r.state, r.result["status"]) for r in results] == [("SUCCESS", "unreachable")] * 3
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "FreeSWITCH unreachable" in warnings[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)
    assert rdb.pttl(keys.quiet(quiet.unreachable(NODE))) > 0      # shared by every process


def test_resync_task_unknown_node(app):
    from workers.tasks.state import resync

    assert resync.apply(args=("nope", "connect", None)).get() == {
        "node": "nope", "status": "unknown-node"}


def test_unparsable_snapshot_applies_nothing(app, rdb, settings, monkeypatch):
    from workers.tasks.state import resync

    with EslPeer(api={"strmicroepoch": str(T_REG),
                      "sofia xmlstatus profile internal reg": "<profile><oops"}) as p:
        s = with_node(settings, p)
        monkeypatch.setitem(app.config, "FSCTI", s)
        out = resync.apply(args=(NODE, "periodic", None)).get()
    assert out["status"] == "unparsable"
    assert outputs(rdb)["userinfo"] == {}


def test_a_refused_profile_is_skipped_not_read_as_empty(rdb, settings):
    with EslPeer(api={"strmicroepoch": str(T_REG),
                      "sofia xmlstatus profile internal reg": "-ERR Invalid Profile!\n"}) as p:
        s = with_node(settings, p)
        apply_events(rdb, s, NODE, until(slim_events(s), phase_us("register_1001_1002:end")),
                     now=T_REG)
        before = registered(rdb)
        resync_node(rdb, s, NODE, "periodic")
    assert registered(rdb) == before == {"1001": "1-5542@127.0.0.1", "1002": "1-5544@127.0.0.1",
                                         "1003": "1-5531@127.0.0.1"}
