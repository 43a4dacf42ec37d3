"""A domain's extensions read from SQL as fast as a rebuild needs them (100,000 in ~1 s of CPU).

The per-write path (app.mirror.source) builds each value through SQLAlchemy's JSON type
(`json.loads` of three columns per row) and the general template merge. A rebuild reads every
row of a domain, so here:
- one narrow query, streamed (`yield_per`: a server-side cursor on PostgreSQL, a lazily
  stepped cursor on SQLite), the three JSON columns selected as text and decoded by msgspec;
- the template side of the merge precomputed once per template (its names and their
  lowercase forms), so an extension whose own names do not collide with its template's,
  other than exactly, merges with one dict union;
- the value encoded by msgspec (compact, UTF-8 kept: what `source.dumps` writes; a reader
  compares values decoded, never as text).
Anything unusual (a null that removes a template value, a name that differs from the
template's only by letter case, text msgspec refuses) takes the general path, so the
result is always that of app.mirror.source.entry_of.
"""
from __future__ import annotations

import json
from typing import Iterator

import msgspec
from sqlalchemy import Text, cast, select

from app.mirror.effective import SECTIONS, overlay
from app.mirror.source import alias_of
from app.models import Extension

_decode = msgspec.json.decode
_encode = msgspec.json.encode
EMPTY: dict = {}

# Selected as text: SQLAlchemy's JSON type (and psycopg's json loader) would decode each value
# with json.loads; msgspec does it several times faster.
COLUMNS = (Extension.name, Extension.enabled, Extension.template_id,
           cast(Extension.param, Text), cast(Extension.variable, Text),
           cast(Extension.attribute, Text))

# One rebuild entry: (name, value as JSON bytes or b'' when disabled, alias or '').
Row = tuple[str, bytes, str]


class _Section:
    """One section of a template, with what the fast merge checks precomputed."""

    __slots__ = ("values", "lower")

    def __init__(self, values: dict | None):
        self.values = values or EMPTY
        self.lower = {k.lower() for k in self.values}

    def merge(self, own: dict) -> dict:
        """overlay(template section, own), with one dict union in the common case."""
        if not own:
            return self.values
        base = self.values
        if not base:
            for value in own.values():
                if value is None:
                    return overlay(base, own)
            return own
        lower = self.lower
        for name, value in own.items():
            if value is None or (name not in base and name.lower() in lower):
                return overlay(base, own)
        if len(own) > 1 and len({k.lower() for k in own}) != len(own):
            return overlay(base, own)  # own names that differ only by case: the last one wins
        return {**base, **own}


class Formatter:
    """Turns rows of COLUMNS into rebuild entries, for a set of templates loaded once."""

    def __init__(self, templates: dict[int, tuple]):
        self.sections = {tid: tuple(_Section(t[i]) for i in range(len(SECTIONS)))
                         for tid, t in templates.items()}
        self.none = tuple(_Section(None) for _ in SECTIONS)

    def row(self, name: str, enabled, template_id, param: str, variable: str,
            attribute: str) -> Row:
        if not enabled:
            return name, b"", ""
        p, v, a = self.sections.get(template_id, self.none)
        eff = {"param": p.merge(_section(param)), "variable": v.merge(_section(variable)),
               "attribute": a.merge(_section(attribute))}
        return name, _encode(eff), alias_of(eff)

    def rows(self, rows) -> list[Row]:
        row = self.row
        return [row(*r) for r in rows]


def _section(text: str | None) -> dict:
    """A stored JSON section (text) as a dict; {} for SQL NULL or JSON null."""
    if not text:
        return EMPTY
    try:
        value = _decode(text)
    except (msgspec.DecodeError, ValueError):  # e.g. NaN, which json.dumps may have stored
        value = json.loads(text)
    return value or EMPTY


def stream_rows(conn, domain_id: int, templates: dict[int, tuple],
                batch: int = 5000) -> Iterator[list[Row]]:
    """The domain's extensions in name order, `batch` at a time, from one streamed query.

    The query holds one read snapshot for its duration (a second or two per 100,000 rows);
    the rebuild protocol (app.mirror.rebuild) covers every commit that snapshot misses."""
    fmt = Formatter(templates)
    q = select(*COLUMNS).where(Extension.domain_id == domain_id).order_by(Extension.name)
    result = conn.execute(q.execution_options(yield_per=batch))
    try:
        for part in result.partitions():
            yield fmt.rows(part)
    finally:
        result.close()
        conn.rollback()
