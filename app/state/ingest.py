"""Apply a batch of one node's events to the state: prepare ops, then one EVALSHA.

Exactness: the script merges every op into canonical records by joins (see
app/state/lua/merge.lua), so the state is the same whatever the order, repetition or
splitting of the batches across workers. Order within the batch only matters for what is
pushed to the `gui` channels/lists (each change, as it is seen).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

import msgspec

from app.state import keys
from app.state.prepare import clock_sample, prepare
from app.state.scripts import config_json, script

log = logging.getLogger(__name__)

# Keep one script run short (Redis is single-threaded and serves nothing else meanwhile):
# split very large batches, i.e. resyncs. A snapshot row costs the script ~70-100 µs on these
# VMs, so 500 rows hold Redis ~40 ms (2,000 held it ~150-300 ms: every other node's events
# and every directory lookup waited; docs/benchmarks.md, multi-node).
MAX_OPS_PER_CALL = 500


@dataclass
class BatchResult:
    """What one batch did: ops applied/ignored, malformed events skipped, state removed;
    `stale`: refused whole because its lease token is no longer the node's fence (`fence`)."""

    applied: int = 0
    ignored: int = 0
    malformed: int = 0
    removed: int = 0
    stale: bool = False
    fence: int | None = None
    # bindings a registration snapshot kept under their extension (bid, domain, extension
    # flattened), for the rows of its later chunks
    kept: list = field(default_factory=list)
    # bindings a registration snapshot found under an extension their name no longer means
    # (an alias added since): gone there, and added where it now belongs by the row's op
    moved: list = field(default_factory=list)
    unchanged: int = 0      # a snapshot's rows left out: the state had them as they are

    def add(self, counts) -> None:
        self.applied += int(counts[0])
        self.ignored += int(counts[1])
        self.removed += int(counts[2])
        if len(counts) > 3 and int(counts[3]):
            self.stale = True
            self.fence = int(counts[4]) if len(counts) > 4 else None
        if len(counts) > 5 and counts[5]:
            self.kept += _texts(counts[5])
        if len(counts) > 6 and counts[6]:
            self.moved += _texts(counts[6])


def _texts(values) -> list:
    return [v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v for v in values]


def now_us() -> int:
    """Our wall clock in microseconds."""
    return time.time_ns() // 1000


def run_ops(client, settings, node_name: str, ops: list, now: int | None = None,
            offset: int | None = None, exact_offset: bool = False,
            token: int | None = None) -> BatchResult:
    """Run ops (already prepared) for one node in as few script calls as possible.

    `now`: FreeSWITCH time (µs) to judge expiry by; default our clock + the node's offset.
    `offset`: a clock-offset sample (events) or measurement (`exact_offset`, strmicroepoch).
    `token`: the lease token the ops were read under (app/state/lease.py); the script applies
    nothing unless it is still the node's fence (None: not fenced, e.g. the beat's sweep).
    """
    result = BatchResult()
    cfg = config_json(settings)
    run = script(client)
    base = {"node": node_name, "ndk": keys.node(node_name),
            "nk": keys.node_channels(node_name), "nb": keys.node_bindings(node_name),
            "nodes": keys.nodes()}
    if token is not None:
        base["fk"], base["tok"] = keys.node_fence(node_name), int(token)
    if now is None:
        base["lnow"] = str(now_us())      # the script adds the node's clock offset
    else:
        base["now"] = str(int(now))
    if offset is not None:
        base["off"] = str(int(offset))
        base["offx"] = bool(exact_offset)
        base.setdefault("lnow", str(now_us()))
    kept: dict = {}
    for chunk in _chunks(ops):
        owners, compact = _share_owners(chunk)
        batch = dict(base, ops=compact, owners=owners)
        if kept:
            batch["kept"] = _kept_for(chunk, kept)
        data, fmt = _encode(batch)
        done = len(result.kept)
        result.add(run(args=[cfg, data, fmt]))
        if result.stale:        # the node has a newer owner: the other chunks are stale too
            break
        for i in range(done, len(result.kept) - 2, 3):
            kept[result.kept[i]] = result.kept[i + 1:i + 3]
    return result


def _kept_for(chunk: list, kept: dict) -> list:
    """What earlier runs' `rs` ops kept where it is, for this run's rows (bid, domain, ext)."""
    out = []
    for op in chunk:
        where = kept.get(op.get("bid")) if op.get("k") == "r" else None
        if where:
            out += [op["bid"], where[0], where[1]]
    return out


def _whole_pass(op: dict) -> bool:
    """A snapshot's pass over the whole node (`rs`, `cs`: each visits every binding or live
    leg of it): on a large node it alone costs a run of rows."""
    return op.get("k") in ("rs", "cs") and "m" not in op


def _weight(op: dict) -> int:
    """What an op costs a script run, in rows: a pass over named members (`m`) about half a
    row per member, anything else one."""
    return (len(op["m"]) + 1) // 2 if "m" in op else 1


def _chunks(ops: list) -> list[list]:
    """The script runs for `ops`: one when it is light, else runs of up to MAX_OPS_PER_CALL
    rows' worth (`_weight`), a whole-node pass in a run of its own."""
    weights = [_weight(op) for op in ops]
    if sum(weights) <= MAX_OPS_PER_CALL:
        return [ops]
    out, run, total = [], [], 0
    for op, w in zip(ops, weights):
        if _whole_pass(op):
            w = MAX_OPS_PER_CALL
        if run and total + w > MAX_OPS_PER_CALL:
            out.append(run)
            run, total = [], 0
        run.append(op)
        total += w
        if total >= MAX_OPS_PER_CALL:
            out.append(run)
            run, total = [], 0
    if run:
        out.append(run)
    return out


def _encode(batch: dict) -> tuple[bytes | str, str]:
    """(the batch for the script, its format): MessagePack ('m', msgspec), which the script's
    cmsgpack decodes faster than cjson decodes JSON; JSON ('j') only for what msgspec
    refuses (a lone surrogate in a hand-made message: never from the listener)."""
    try:
        return msgspec.msgpack.encode(batch), "m"
    except (TypeError, ValueError, msgspec.EncodeError):
        return json.dumps(batch, separators=(",", ":")), "j"


def _share_owners(ops: list) -> tuple[list, list]:
    """Send each owner ({d, x}) once a batch: ops refer to it by index."""
    owners: list = []
    index: dict = {}
    out = []
    for op in ops:
        owner = op.get("o")
        if owner is not None:
            key = (owner["d"], owner["x"])
            i = index.get(key)
            if i is None:
                i = index[key] = len(owners)
                owners.append(owner)
            op = dict(op, o=i)
        out.append(op)
    return owners, out


def apply_events(client, settings, node_name: str, events: list, now: int | None = None,
                 token: int | None = None) -> BatchResult:
    """Apply one node's events (slim dicts, arrival order) to the state in Redis; `token`:
    the listener's lease token for the node (a stale one applies nothing: `result.stale`)."""
    ops, bad = prepare(settings, node_name, events)
    offset = clock_sample(events)
    if not ops and offset is None:
        return BatchResult(malformed=bad)
    result = run_ops(client, settings, node_name, ops, now=now, offset=offset, token=token)
    result.malformed = bad
    return result
