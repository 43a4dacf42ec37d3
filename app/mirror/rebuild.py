"""Rebuild the Redis mirror from SQL without readers ever seeing a missing or half-built hash.

Per domain: take the rebuild marker (SET NX with a TTL refreshed per batch), stream SQL into the
aside keys in pipelined Lua batches, then swap them in with one atomic script. While the marker
exists every API write goes to the live keys AND the aside keys and records the name in the
touched set; batches skip touched names. So a write made during a rebuild is neither lost nor
resurrected by the swap (a delete removes the aside field and stays in the touched set).
The marker is taken before SQL is read, so any commit the rebuild does not see is mirrored by its
writer while the marker exists. While a heal of a Redis data loss runs, writers write the aside
keys only (lua/guard.lua): the live hash stays as the loss left it until the swap, which also
records that the domain is complete in this data generation (keys.mirror_generation).
"""
import logging
import queue
import secrets
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import select

from app.extensions import db
from app.mirror.bulk import stream_rows
from app.mirror.client import writer
from app.mirror.report import Report
from app.mirror.scripts import scripts_for
from app.mirror.source import connect, load_domains, load_templates
from app.mirror.write import delete_keys, domain_keys, guard_keys, seq_of
from app.models import Domain
from app.state import keys

log = logging.getLogger(__name__)

MARKER_TTL = 300  # seconds; refreshed by every batch, so only a dead rebuild lets it expire
BATCH = 1000
PIPELINE_DEPTH = 8  # batches sent per round trip
READ_AHEAD = 16  # batches the SQL reader may be ahead of the Redis writer


@dataclass
class DomainResult:
    domain: str
    status: str = "ok"  # ok | busy | aborted | gone
    extensions: int = 0  # read from SQL
    written: int = 0  # written by the rebuild (the rest were written by the API meanwhile)
    seconds: float = 0.0


@dataclass
class RebuildResult:
    domains: list[DomainResult] = field(default_factory=list)
    removed_domains: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"domains": [d.__dict__ for d in self.domains], "removed_domains": self.removed_domains,
                "extensions": sum(d.extensions for d in self.domains)}


def rebuild_domain(name: str, batch: int = BATCH,
                   on_batch: Callable[[int], None] | None = None) -> DomainResult:
    """Rebuild one domain's mirror from SQL; `on_batch(n)` runs before batch n is written (tests).

    SQL is read (one streamed query, app.mirror.bulk) by a thread of its own while this one
    sends the batches already formatted, so reading and formatting overlap Redis's work."""
    client = writer()
    s = scripts_for(client)
    t0 = time.monotonic()
    res = DomainResult(name)
    token = secrets.token_hex(8)
    marker = keys.mirror_rebuild_marker(name)
    aside = [marker, keys.exten_aside(name), keys.alias_aside(name), keys.disabled_aside(name),
             keys.mirror_touched(name)]
    if not s.rebuild_begin(keys=aside, args=[token, MARKER_TTL]):
        res.status = "busy"
        log.warning("rebuild of %s skipped: another rebuild holds %s", name, marker)
        return res
    try:
        with connect() as conn:
            rows = load_domains(conn, name)
            templates = load_templates(conn) if rows else {}
        if not rows:
            res.status = "gone"
            client.delete(marker)
            return res
        d = rows[0]
        if s.domain_set(keys=domain_keys(name), args=[name, d.json, token, ""]) < 0:
            res.status = "aborted"
            return res
        pipe = client.pipeline(transaction=False)
        with Reader(d.id, templates, batch) as reader:
            for n, entries in enumerate(reader):
                if on_batch is not None:
                    on_batch(n)
                argv = [token, MARKER_TTL]
                for e in entries:
                    argv += e
                s.rebuild_batch(keys=aside, args=argv, client=pipe)
                res.extensions += len(entries)
                if len(pipe) >= PIPELINE_DEPTH and not _flush(pipe, res):
                    return res
        if not _flush(pipe, res):
            return res
        live = [keys.exten(name), keys.alias(name), keys.disabled(name)]
        swap_keys = [marker] + live + aside[1:4] + [keys.mirror_touched(name), keys.mirror_seq(name),
                                                    *guard_keys(name)]
        if s.rebuild_swap(keys=swap_keys, args=[token]) < 0:
            res.status = "aborted"
        return res
    except BaseException:
        _release(client, marker, token)
        raise
    finally:
        res.seconds = round(time.monotonic() - t0, 3)
        if res.status != "ok":
            log.warning("rebuild of %s: %s", name, res.status)
        else:
            log.info("rebuilt %s: %d extensions (%d written by the API meanwhile) in %.1fs",
                     name, res.extensions, res.extensions - res.written, res.seconds)


class Reader:
    """The domain's rebuild entries (app.mirror.bulk), read and formatted by a thread of its
    own, at most READ_AHEAD batches ahead of the writer. Iterate it inside `with`: leaving
    early (an aborted rebuild, an error) stops the thread and closes its connection."""

    def __init__(self, domain_id: int, templates: dict, batch: int):
        self._q: queue.Queue = queue.Queue(READ_AHEAD)
        self._stop = threading.Event()
        self._engine = db.engine  # the app's, resolved here: the thread has no app context
        self._thread = threading.Thread(target=self._run, args=(domain_id, templates, batch),
                                        name="fscti-rebuild-read", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        while self._thread.is_alive():  # unblock a put() waiting for room
            try:
                self._q.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def __iter__(self):
        while True:
            item = self._q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def _run(self, domain_id: int, templates: dict, batch: int) -> None:
        try:
            with self._engine.connect() as conn, \
                    closing(stream_rows(conn, domain_id, templates, batch)) as rows:
                for entries in rows:
                    if not self._put(entries):
                        return
            self._put(_DONE)
        except BaseException as exc:  # handed to the writer, which raises it
            self._put(exc)


_DONE = object()


def _flush(pipe, res: DomainResult) -> bool:
    """Send queued batches; False (and res.status=aborted) if the marker was lost."""
    for n in pipe.execute():
        if n < 0:
            res.status = "aborted"
            return False
        res.written += n
    return True


def _release(client, marker: str, token: str) -> None:
    """Drop our marker after a crash so writers stop dual-writing (best effort)."""
    try:
        if client.get(marker) == token:
            client.delete(marker)
    except Exception:
        log.exception("could not release rebuild marker %s", marker)


def rebuild_all(batch: int = BATCH) -> RebuildResult:
    """Rebuild every domain in SQL and remove mirrored domains that SQL no longer has."""
    out = RebuildResult()
    with connect() as conn:
        names = [d.name for d in load_domains(conn)]
    for name in names:
        out.domains.append(rebuild_domain(name, batch))
    out.removed_domains = remove_stray_domains(repair=True)
    return out


def mirrored_domains(client) -> set[str]:
    """Domains that have anything in Redis: a domain entry or a `cti_exten@` hash."""
    names = set(client.hkeys(keys.domains()))
    for key in client.scan_iter(match=keys.exten_pattern(), count=1000):
        names.add(keys.exten_domain(key))
    return names


def remove_stray_domains(repair: bool = True, report: Report | None = None) -> list[str]:
    """Drop mirrored domains that SQL no longer has (re-checked just before each delete)."""
    client = writer()
    s = scripts_for(client)
    removed = []
    with connect() as conn:
        sql_names = {d.name for d in load_domains(conn)}
        for name in sorted(mirrored_domains(client) - sql_names):
            if report is not None:
                report.add(name, None, "stray_domain")
            if not repair:
                continue
            seq = seq_of(client, name)
            still = conn.execute(select(Domain.id).where(Domain.name == name)).first()
            conn.rollback()
            if still is None and s.domain_delete(keys=delete_keys(name), args=[name, seq]) >= 0:
                removed.append(name)
                log.warning("mirror: removed domain %s (not in SQL)", name)
    if report is not None:
        report.repaired += len(removed)
    return removed
