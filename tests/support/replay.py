"""Real FreeSWITCH fixtures for the state tests: slim events, phase cut points, outputs."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "freeswitch"
DOMAIN = "127.0.0.1"
NODE = "fs1"


@lru_cache(maxsize=1)
def raw_events() -> tuple:
    """The 658 captured events, in arrival order."""
    with open(FIXTURES / "events.jsonl", encoding="utf-8") as fh:
        return tuple(json.loads(line) for line in fh if line.strip())


def slim_events(settings) -> list[dict]:
    """The captured events as the listener enqueues them (slim_event applied, None dropped)."""
    from app.state.events import slim_event

    out = []
    for event in raw_events():
        slim = slim_event(dict(event), settings)
        if slim is not None:
            out.append(slim)
    return out


@lru_cache(maxsize=1)
def phases() -> dict:
    """phase name -> its record from phases.jsonl (the first one of each name)."""
    out = {}
    with open(FIXTURES / "phases.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            out.setdefault(rec["phase"], rec)
    return out


def phase_us(name: str) -> int:
    """A phase's time in µs (same clock as Event-Date-Timestamp: one machine)."""
    return int(phases()[name]["ts"] * 1_000_000)


def until(events: list[dict], t_us: int) -> list[dict]:
    """The events created up to t_us, in arrival order."""
    return [e for e in events if int(e["Event-Date-Timestamp"]) <= t_us]


def outputs(client, domain: str = DOMAIN, gui=None) -> dict:
    """The SPEC-shaped outputs, decoded: cti_userinfo, the gui registration and call hashes."""
    reg_hash = (gui or {}).get("registration", {}).get("hash", "registrations")
    call_hash = (gui or {}).get("call", {}).get("hash", "calls")
    out = {"userinfo": {f: json.loads(v) for f, v in client.hgetall(f"cti_userinfo@{domain}").items()}}
    if reg_hash:
        out["registrations"] = {f: json.loads(v) for f, v in client.hgetall(reg_hash).items()}
    if call_hash:
        out["calls"] = {f: json.loads(v) for f, v in client.hgetall(call_hash).items()}
    return out


@lru_cache(maxsize=1)
def api_sections() -> tuple:
    """(command, note, body) of each `===== api ...` section of api_outputs.txt."""
    import re

    text = (FIXTURES / "api_outputs.txt").read_text(encoding="utf-8")
    head = re.compile(r"^===== (?P<cmd>.+?)\s{3}\[[^\]]*\](?:\s+\((?P<note>.*)\))?$", re.M)
    found = list(head.finditer(text))
    out = []
    for i, m in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        body = text[m.end():end].strip("\n")
        out.append((m.group("cmd"), m.group("note") or "", body + ("\n" if body else "")))
    return tuple(out)


def api_output(cmd: str, note: str = "") -> str:
    """The body of the first section for exactly `cmd` whose note contains `note`."""
    for c, n, body in api_sections():
        if c == cmd and note in n:
            return body
    raise KeyError(f"{cmd} ({note})")


def by_seq(settings, *seqs) -> list[dict]:
    """Copies of the slim events with these Event-Sequence numbers, in the order given."""
    index = {e["Event-Sequence"]: e for e in slim_events(settings)}
    return [dict(index[str(s)]) for s in seqs]
