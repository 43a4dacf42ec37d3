"""Records written in the shape before owners were stored as {domain, extension}: the script
reads them, and the next write (channels, bindings) or snapshot (node bindings set) replaces
them, with the same outputs as if they had always been in the current shape."""
import json

from app.state import keys
from app.state.ingest import apply_events
from app.state.resync import apply_snapshot
from tests.support.replay import DOMAIN, NODE, outputs, phase_us, slim_events, until
from tests.support.snapshots import FS1, T_REG, snap


def _owner_keys(domain: str) -> dict:
    return {"ui": keys.userinfo(domain), "xc": keys.call_state(domain), "rg": keys.reg_state(domain)}


def to_legacy(rdb) -> None:
    """Rewrite the records as the previous release stored them (owners' key names inside)."""
    for key in rdb.scan_iter(keys.channel("*")):
        rec = json.loads(rdb.get(key))
        if rec.get("o"):
            rec["o"].update(_owner_keys(rec["o"]["d"]))
            ttl = rdb.ttl(key)
            rdb.set(key, json.dumps(rec), ex=ttl if ttl > 0 else None)
    reg = keys.reg_state(DOMAIN)
    for field, value in rdb.hgetall(reg).items():
        if "\t" in field:
            continue
        rec = json.loads(value)
        for binding in rec["b"].values():
            binding["nb"] = keys.node_bindings(NODE)
        rdb.hset(reg, field, json.dumps(rec))
    nb = keys.node_bindings(NODE)
    for member, score in rdb.zrange(nb, 0, -1, withscores=True):
        k = _owner_keys(DOMAIN)
        rdb.zrem(nb, member)
        rdb.zadd(nb, {f"{k['ui']}\t{k['rg']}\t{k['xc']}\t{member}": score})


def stored_key_names(rdb) -> list:
    """Key names found inside the internal records (none in the current shape)."""
    found = []
    for key in rdb.scan_iter(keys.channel("*")):
        if "ui" in (json.loads(rdb.get(key)).get("o") or {}):
            found.append(key)
    for member in rdb.zrange(keys.node_bindings(NODE), 0, -1):
        if keys.userinfo(DOMAIN) in member:
            found.append(member)
    for field, value in rdb.hgetall(keys.reg_state(DOMAIN)).items():
        if "\t" not in field and any("nb" in b for b in json.loads(value)["b"].values()):
            found.append(field)
    return found


def test_the_current_shape_stores_no_key_names(rdb, settings):
    t = phase_us("call1_caller_hangup:start")
    apply_events(rdb, settings, NODE, until(slim_events(settings), t + 2_000_000), now=t)
    assert rdb.zcard(keys.node_bindings(NODE)) and list(rdb.scan_iter(keys.channel("*")))
    assert stored_key_names(rdb) == []
    member = rdb.zrange(keys.node_bindings(NODE), 0, 0)[0]
    assert member.split("\t")[:3] == [DOMAIN, member.split("\t")[1], NODE]


def test_legacy_records_give_the_same_outputs_and_are_replaced(rdb, settings):
    events = slim_events(settings)
    t_mid = phase_us("call1_caller_hangup:start") + 2_000_000      # a call is up
    first = until(events, t_mid)
    rest = events[len(first):]
    assert first and rest

    apply_events(rdb, settings, NODE, events, now=t_mid)
    expected = outputs(rdb)
    rdb.flushdb()

    apply_events(rdb, settings, NODE, first, now=t_mid)
    to_legacy(rdb)
    assert stored_key_names(rdb)
    apply_events(rdb, settings, NODE, rest, now=t_mid)
    assert outputs(rdb) == expected
    # every channel got a later event: each record was written back in the current shape
    assert [k for k in stored_key_names(rdb) if k.startswith(keys.channel_prefix())] == []


def test_legacy_binding_members_are_replaced_by_a_snapshot(rdb, settings):
    t = phase_us("register_1001_1002:end")
    apply_events(rdb, settings, NODE, until(slim_events(settings), t), now=T_REG)
    before = outputs(rdb)
    scores = sorted(rdb.zrange(keys.node_bindings(NODE), 0, -1, withscores=True))
    to_legacy(rdb)
    apply_snapshot(rdb, settings, FS1, snap(T_REG))
    assert outputs(rdb) == before
    assert sorted(rdb.zrange(keys.node_bindings(NODE), 0, -1, withscores=True)) == scores
    assert stored_key_names(rdb) == []
