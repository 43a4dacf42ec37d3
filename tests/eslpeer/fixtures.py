"""The captured FreeSWITCH traffic in tests/fixtures/freeswitch, parsed for the peer."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tests.eslpeer.wire import split_frames

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "freeswitch"
FIXTURE_CORE_UUID = "8050275d-5ad7-48bd-8327-686409e2b53c"

# Commands whose output has no trailing newline (facts §5); api_outputs.txt adds one.
_NO_NEWLINE = ("uuid_exists ", "user_exists ", "global_getvar ", "strmicroepoch", "strepoch")


@dataclass(frozen=True)
class WireEvent:
    """One captured event: its decoded headers and the exact frame bytes FreeSWITCH sent."""

    event: dict
    body: bytes
    frame: bytes

    @property
    def name(self) -> str:
        return self.event.get("Event-Name", "")

    @property
    def subclass(self) -> str | None:
        return self.event.get("Event-Subclass")

    @property
    def timestamp_us(self) -> int:
        return int(self.event.get("Event-Date-Timestamp") or 0)


@lru_cache(maxsize=1)
def wire_events() -> tuple[WireEvent, ...]:
    """Every event of events_json_wire.txt, in arrival order, with its raw frame."""
    data = (FIXTURES / "events_json_wire.txt").read_bytes()
    out = []
    for headers, body, raw in split_frames(data):
        if headers.get("Content-Type") == "text/event-json":
            out.append(WireEvent(json.loads(body), body, raw))
    return tuple(out)


@lru_cache(maxsize=1)
def phases() -> dict[str, tuple[float, float]]:
    """Phase name -> (start, end) wall-clock seconds, from phases.jsonl `<name>:start`/`:end`."""
    starts, spans = {}, {}
    for line in (FIXTURES / "phases.jsonl").read_text().splitlines():
        row = json.loads(line)
        name, _, edge = row["phase"].rpartition(":")
        if edge == "start":
            starts[name] = row["ts"]
        elif edge == "end" and name in starts:
            spans[name] = (starts[name], row["ts"])
    return spans


def phase_events(name: str) -> list[WireEvent]:
    """The captured events created (Event-Date-Timestamp) during one phase of phases.jsonl."""
    try:
        start, end = phases()[name]
    except KeyError:
        raise KeyError(f"unknown phase {name!r}; phases: {sorted(phases())}") from None
    lo, hi = int(start * 1_000_000), int(end * 1_000_000)
    return [w for w in wire_events() if lo <= w.timestamp_us <= hi]


@lru_cache(maxsize=1)
def api_outputs() -> tuple[tuple[str, str, str], ...]:
    """(command line, note, exact output) for every section of api_outputs.txt, in file order."""
    text = (FIXTURES / "api_outputs.txt").read_text(encoding="utf-8")
    parts = re.split(r"^===== (.*)$", text, flags=re.M)
    out = []
    for i in range(1, len(parts), 2):
        title, chunk = parts[i], parts[i + 1]
        m = re.match(r"(api|bgapi) (.*?)   \[[^\]]*\](?:  \((.*)\))?$", title)
        if not m:
            continue
        kind, command, note = m.group(1), m.group(2), m.group(3) or ""
        body = chunk[1:]                      # the newline that ends the title line
        body = body[:-1] if body.endswith("\n") else body   # the blank separator line
        if kind == "bgapi":
            job = body.split("):\n", 1)[-1]
            out.append((f"bgapi {command}", note, job))
            continue
        if command.startswith(_NO_NEWLINE) and body.endswith("\n"):
            body = body[:-1]
        out.append((command, note, body))
    return tuple(out)


def default_api_table() -> dict[str, str]:
    """api command -> output: the last capture of each command (the idle state after the run)."""
    table = {}
    for command, _note, output in api_outputs():
        if not command.startswith("bgapi "):
            table[command] = output
    return table
