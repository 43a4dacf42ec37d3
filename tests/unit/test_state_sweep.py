"""The beat tick: expiry sweep without sofia::expire, stale calls, periodic resync."""
import dataclasses

from app.config import FreeSwitchNode
from app.state import keys
from app.state.calls import list_calls
from app.state.ingest import apply_events
from app.state.sweep import expire_bindings, stale_calls, tick
from tests.support.replay import NODE, by_seq, outputs, phase_us, slim_events, until


def registered(rdb):
    return {x for x, v in outputs(rdb)["userinfo"].items() if "register" in v}


def test_sweep_removes_expired_bindings_only(rdb, settings):
    apply_events(rdb, settings, NODE, by_seq(settings, 427, 454, 458), now=1795670527_000000)
    assert registered(rdb) == {"1001", "1002", "1003"}
    # 1003's stored expiry (599) passes; sofia::expire never arrives
    left = expire_bindings(rdb, settings, NODE, now=1795670599_000000)
    assert left == 0
    assert registered(rdb) == {"1001", "1002"}
    assert not rdb.hexists("registrations", "1003")
    assert rdb.zcard(keys.node_bindings(NODE)) == 2
    # a sweep with nothing due changes nothing
    before = outputs(rdb)
    expire_bindings(rdb, settings, NODE, now=1795670600_000000)
    assert outputs(rdb) == before


def test_refresh_before_expiry_keeps_the_binding(rdb, settings):
    apply_events(rdb, settings, NODE, by_seq(settings, 432, 437), now=1795670523_000000)
    # 437 refreshed 432 at 522.8 with 3600 s: the first expiry no longer counts
    expire_bindings(rdb, settings, NODE, now=(1795670519 + 3660 + 1) * 1_000_000)
    assert registered(rdb) == {"1001"}


def test_stale_calls_are_found_by_last_event(rdb, settings):
    t = phase_us("call1_caller_hangup:bridged")
    apply_events(rdb, settings, NODE, until(slim_events(settings), t), now=t)
    stale_after = settings.state["call_stale_after"] * 1_000_000
    assert stale_calls(rdb, settings, NODE, now=t) == []
    assert sorted(stale_calls(rdb, settings, NODE, now=t + stale_after)) == sorted(
        c["uuid"] for c in list_calls(client=rdb))


def test_tick_enqueues_periodic_resync_once_per_interval(rdb, settings):
    s = dataclasses.replace(settings, freeswitch=[FreeSwitchNode("fs9", "127.0.0.1", 1)])
    sent = []
    tick(rdb, s, lambda node, reason: sent.append((node, reason)))
    tick(rdb, s, lambda node, reason: sent.append((node, reason)))
    assert sent == [("fs9", "periodic")]


def test_tick_resyncs_a_node_with_stale_calls(rdb, settings):
    s = dataclasses.replace(settings, freeswitch=[FreeSwitchNode(NODE, "127.0.0.1", 1)],
                            state=dict(settings.state, call_stale_after=1))
    apply_events(rdb, s, NODE, by_seq(s, 472), now=1795670527_200000)
    rdb.set(keys.state_tick(f"resync-{NODE}"), "1", ex=60)          # periodic not due
    sent = []
    done = tick(rdb, s, lambda node, reason: sent.append((node, reason)))
    assert NODE in done["swept"]
    assert sent == [(NODE, "stale-calls")]
