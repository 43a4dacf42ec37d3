"""Synthetic calls built from the real event shapes of the captured call 1 (1001 -> 1002).

Every event of both legs of `call1_caller_hangup` becomes a template: the two channel uuids,
the Core-UUID, Event-Sequence, the SIP Call-IDs, the extension numbers and every timestamp
are holes, so each generated call is the captured call with fresh identities, shifted in
time. `Event-Date-Timestamp` is the moment the event is rendered (i.e. sent), so a consumer
can measure its lag from the event itself.

    gen = SyntheticCalls()
    stats = gen.run(peer, calls=2000)                 # as fast as the client drains
    stats = gen.run(peer, calls=200, rate=1000)       # paced at 1,000 events/s
"""
from __future__ import annotations

import itertools
import json
import re
import time
import uuid as uuidlib
from dataclasses import dataclass, field

from tests.eslpeer.fixtures import FIXTURE_CORE_UUID, FIXTURES, phase_events

CALL_PHASE = "call1_caller_hangup"
_SEP = "\x00"            # json.dumps escapes control characters, so \x00 never occurs in output


@dataclass
class Template:
    name: str
    subclass: str | None
    parts: list           # literal str, or (kind, delta) holes


@dataclass
class RunStats:
    calls: int = 0
    events: int = 0
    skipped: int = 0
    started: float = 0.0
    finished: float = 0.0
    uuids: list = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return max(self.finished - self.started, 1e-9)

    @property
    def rate(self) -> float:
        return self.events / self.seconds


class SyntheticCalls:
    """Renders calls from templates; `run()` feeds them to an EslPeer."""

    def __init__(self):
        bridged = _bridged_uuids()
        self.a_uuid, self.b_uuid = bridged
        events = [w.event for w in phase_events(CALL_PHASE)
                  if w.event.get("Unique-ID") in bridged]
        self.t0 = int(events[0]["Event-Date-Timestamp"])
        call_ids = sorted({e["variable_sip_call_id"] for e in events if "variable_sip_call_id" in e})
        self._call_ids = call_ids
        self.templates = [self._compile(e) for e in events]

    def _compile(self, event: dict) -> Template:
        text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        text = text.replace(self.a_uuid, f"{_SEP}A{_SEP}").replace(self.b_uuid, f"{_SEP}B{_SEP}")
        text = text.replace(FIXTURE_CORE_UUID, f"{_SEP}C{_SEP}")
        for i, cid in enumerate(self._call_ids):
            text = text.replace(cid, f"{_SEP}I{i}{_SEP}")
        text = re.sub(r'"Event-Sequence":"\d+"', f'"Event-Sequence":"{_SEP}Q{_SEP}"', text)
        text = re.sub(r'"Event-Date-Timestamp":"\d+"', f'"Event-Date-Timestamp":"{_SEP}E{_SEP}"', text)
        t0, s0 = self.t0, self.t0 // 1_000_000

        def micro(m):
            v = int(m.group(1))
            return f'"{_SEP}T{v - t0}{_SEP}"' if abs(v - t0) < 10**8 else m.group(0)

        def secs(m):
            v = int(m.group(1))
            return f'"{_SEP}S{v - s0}{_SEP}"' if abs(v - s0) < 100 else m.group(0)

        text = re.sub(r'"(\d{16})"', micro, text)
        text = re.sub(r'"(\d{10})"', secs, text)
        text = re.sub(r"(?<![0-9A-Za-z])1001(?![0-9A-Za-z])", f"{_SEP}X{_SEP}", text)
        text = re.sub(r"(?<![0-9A-Za-z])1002(?![0-9A-Za-z])", f"{_SEP}Y{_SEP}", text)
        pieces = text.split(_SEP)
        parts: list = []
        for i, piece in enumerate(pieces):
            if i % 2 == 0:
                parts.append(piece)
            elif piece[0] in "TS":
                parts.append((piece[0], int(piece[1:])))
            elif piece[0] == "I":
                parts.append(("I", int(piece[1:])))
            else:
                parts.append((piece, 0))
        return Template(event["Event-Name"], event.get("Event-Subclass"), parts)

    def render(self, tpl: Template, values: dict, base_us: int, seq: int, core: str) -> bytes:
        """One event body (compact JSON bytes) of one synthetic call."""
        out = []
        now = str(int(time.time() * 1_000_000))
        base_s = base_us // 1_000_000
        for p in tpl.parts:
            if p.__class__ is str:
                out.append(p)
                continue
            kind, arg = p
            if kind == "T":
                out.append(str(base_us + arg))
            elif kind == "S":
                out.append(str(base_s + arg))
            elif kind == "E":
                out.append(now)
            elif kind == "Q":
                out.append(str(seq))
            elif kind == "C":
                out.append(core)
            elif kind == "I":
                out.append(values["call_ids"][arg])
            else:
                out.append(values[kind])
        return "".join(out).encode("utf-8")

    def call_events(self, a_ext: str = "1001", b_ext: str = "1002", core: str = FIXTURE_CORE_UUID,
                    sequence=None) -> list[dict]:
        """One synthetic call as event dicts (for tests that want to inspect them)."""
        sequence = sequence or itertools.count(1)
        values = self._values(0, a_ext, b_ext)
        base = int(time.time() * 1_000_000)
        return [json.loads(self.render(t, values, base, next(sequence), core)) for t in self.templates]

    def _values(self, n: int, a_ext: str, b_ext: str) -> dict:
        return {"A": str(uuidlib.uuid4()), "B": str(uuidlib.uuid4()), "X": a_ext, "Y": b_ext,
                "call_ids": [f"{n}-{i}-synthetic@127.0.0.1" for i in range(len(self._call_ids))]}

    def run(self, peer, calls: int, rate: float | None = None, concurrency: int = 50,
            extensions=None, block: bool = True) -> RunStats:
        """Emit `calls` calls to the peer's subscribers, `concurrency` of them interleaved.

        Without `rate`, as fast as the clients drain (a full queue blocks, `block=True`);
        with `rate` (events/s), paced. Only subscribed events are rendered and counted.
        """
        pairs = itertools.cycle(extensions or [("1001", "1002")])
        stats = RunStats(started=time.time())
        active: list = []
        started = 0
        interval = 1.0 / rate if rate else 0.0
        next_at = time.perf_counter()
        while started < calls or active:
            while started < calls and len(active) < concurrency:
                a, b = next(pairs)
                values = self._values(started, a, b)
                stats.uuids.append((values["A"], values["B"]))
                active.append([values, int(time.time() * 1_000_000), 0])
                started += 1
            for call in list(active):
                values, base, idx = call
                tpl = self.templates[idx]
                call[2] += 1
                if call[2] >= len(self.templates):
                    active.remove(call)
                    stats.calls += 1
                if not peer.wants(tpl.name, tpl.subclass):
                    stats.skipped += 1
                    continue
                if interval:
                    next_at += interval
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                body = self.render(tpl, values, base, next(peer.sequence), peer.core_uuid)
                peer.emit_frame(tpl.name, tpl.subclass, body, block=block)
                stats.events += 1
        stats.finished = time.time()
        return stats


def _bridged_uuids() -> tuple[str, str]:
    for line in (FIXTURES / "phases.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["phase"] == f"{CALL_PHASE}:bridged":
            return row["a_uuid"], row["b_uuid"]
    raise LookupError("call 1 uuids not in phases.jsonl")
