"""Compare SQL with the Redis mirror and repair the drift (lost writes, a flushed Redis, strays).

Every repair re-reads SQL *after* noting the domain's write counter (`keys.mirror_seq`) and is
applied by the WRITE script only if that counter has not moved, so a repair never overwrites, or
resurrects, a newer write made by the API meanwhile; it retries, then reports the name as busy.
Memory stays bounded: SQL is streamed in batches and Redis is walked with HSCAN/SSCAN.
"""
import json
import logging

from sqlalchemy import select

from app.mirror.client import writer
from app.mirror.rebuild import rebuild_domain, remove_stray_domains
from app.mirror.report import Report
from app.mirror.scripts import scripts_for
from app.mirror.source import connect, fetch_entries, iter_entries, load_domains, load_templates
from app.mirror.write import LOST, PENDING, domain_keys, op_of, seq_of, write_ops
from app.models import Extension
from app.state import keys

log = logging.getLogger(__name__)

BATCH = 1000
RETRIES = 3


def _same_json(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return False


def repair_names(conn, client, domain_id: int, domain: str, names: list[str], templates: dict) -> tuple[int, int]:
    """Rewrite these names from a fresh SQL read (delete those SQL lacks). Returns (done, busy)."""
    done = busy = 0
    for i in range(0, len(names), 500):
        chunk = names[i:i + 500]
        for _ in range(RETRIES):
            seq = seq_of(client, domain)
            fresh = fetch_entries(conn, domain_id, chunk, templates)
            ops = [op_of(fresh[n]) if n in fresh else ["X", n, "", ""] for n in chunk]
            n = write_ops(client, domain, ops, expect_seq=seq)
            if n >= 0 or n in (LOST, PENDING):  # LOST / PENDING: the heal's rebuild carries it
                done += len(chunk)
                break
        else:
            busy += len(chunk)
            log.warning("reconcile %s: %d extension(s) kept changing; left for the next run", domain, len(chunk))
    return done, busy


def _check_batch(client, domain: str, entries, report: Report) -> list[str]:
    """Names of this SQL batch whose mirror differs."""
    names = [e.name for e in entries]
    alias_fields = []
    for e in entries:
        if e.enabled:
            if e.alias and e.alias.lower() != e.name:
                alias_fields.append((e.alias.lower(), e.name))
            if e.name.lower() != e.name:
                alias_fields.append((e.name.lower(), e.name))
    pipe = client.pipeline(transaction=False)
    pipe.hmget(keys.exten(domain), names)
    pipe.smismember(keys.disabled(domain), names)
    if alias_fields:
        pipe.hmget(keys.alias(domain), [f for f, _ in alias_fields])
    out = pipe.execute()
    values, listed = out[0], out[1]
    bad_alias = {n for (f, n), v in zip(alias_fields, out[2] if alias_fields else []) if v != n}
    drifted = []
    for e, value, is_listed in zip(entries, values, listed):
        kind = None
        if e.enabled:
            if value is None:
                kind = "missing"
            elif not _same_json(value, e.json):
                kind = "wrong"
            elif is_listed:
                kind = "listed_disabled"
            elif e.name in bad_alias:
                kind = "alias_missing"
        elif value is not None:
            kind = "disabled_visible"
        elif not is_listed:
            kind = "disabled_unlisted"
        if kind:
            report.add(domain, e.name, kind)
            drifted.append(e.name)
    return drifted


def _sql_states(conn, domain_id: int, names: list[str]) -> dict[str, bool]:
    rows = conn.execute(select(Extension.name, Extension.enabled).where(
        Extension.domain_id == domain_id, Extension.name.in_(names))).all()
    conn.rollback()
    return {r[0]: bool(r[1]) for r in rows}


def _strays(conn, client, d, report: Report, templates: dict) -> None:
    """Fields in the hash or the disabled set that SQL does not back; alias entries gone stale."""
    s = scripts_for(client)
    for key, kind in ((keys.exten(d.name), "stray"), (keys.disabled(d.name), "stray_disabled")):
        # HSCAN yields (field, value); NOVALUES needs Redis 7.4, so the values are dropped here.
        scan = client.hscan_iter if kind == "stray" else client.sscan_iter
        chunk: list[str] = []
        for item in scan(key, count=BATCH):
            chunk.append(item if isinstance(item, str) else item[0])
            if len(chunk) >= BATCH:
                _stray_chunk(conn, client, d, chunk, kind, report, templates)
                chunk = []
        if chunk:
            _stray_chunk(conn, client, d, chunk, kind, report, templates)
    chunk = []
    for field_, _ in client.hscan_iter(keys.alias(d.name), count=BATCH):
        chunk.append(field_)
        if len(chunk) >= BATCH:
            _prune(s, client, d.name, chunk, report)
            chunk = []
    if chunk:
        _prune(s, client, d.name, chunk, report)


def _stray_chunk(conn, client, d, names, kind: str, report: Report, templates) -> None:
    # Names SQL has were compared by the batch pass; here only names SQL lacks entirely.
    states = _sql_states(conn, d.id, names)
    bad = [n for n in names if n not in states]
    for n in bad:
        report.add(d.name, n, kind)
    if bad and report.repair:
        done, busy = repair_names(conn, client, d.id, d.name, bad, templates)
        report.repaired += done
        report.busy += busy


def _prune(s, client, domain: str, fields: list[str], report: Report) -> None:
    if report.repair:
        removed = s.alias_prune(keys=[keys.exten(domain), keys.alias(domain)], args=fields)
    else:  # dry run: the same test, read-only
        removed = _stale_aliases(client, domain, fields)
    for f in removed:
        report.add(domain, f, "alias_stray")
    if report.repair:
        report.repaired += len(removed)


def _stale_aliases(client, domain: str, fields: list[str]) -> list[str]:
    targets = client.hmget(keys.alias(domain), fields)
    pairs = [(f, t) for f, t in zip(fields, targets) if t is not None]
    values = client.hmget(keys.exten(domain), [t for _, t in pairs]) if pairs else []
    stale = []
    for (f, t), v in zip(pairs, values):
        alias = ""
        if v is not None:
            try:
                alias = str((json.loads(v).get("attribute") or {}).get("number-alias") or "")
            except (ValueError, AttributeError):
                alias = ""
        if v is None or not (alias.lower() == f or (t.lower() == f and t != f)):
            stale.append(f)
    return stale


def _check_domain_entry(conn, client, d, report: Report) -> None:
    current = client.hget(keys.domains(), d.name)
    if current is not None and _same_json(current, d.json):
        return
    report.add(d.name, None, "domain_missing" if current is None else "domain_wrong")
    if not report.repair:
        return
    s = scripts_for(client)
    for _ in range(RETRIES):
        seq = seq_of(client, d.name)
        fresh = load_domains(conn, d.name)
        conn.rollback()
        if not fresh:
            return
        if s.domain_set(keys=domain_keys(d.name), args=[d.name, fresh[0].json, "", seq]) >= 0:
            report.repaired += 1
            return
    report.busy += 1


def reconcile_domain(conn, client, d, templates: dict, report: Report) -> None:
    """Check (and repair) one domain."""
    if client.exists(keys.mirror_rebuild_marker(d.name)):
        report.skipped_domains.append(d.name)  # a rebuild is rewriting it right now
        return
    if report.repair and not client.exists(keys.exten(d.name), keys.alias(d.name), keys.disabled(d.name)) \
            and client.hget(keys.domains(), d.name) is None:
        # Nothing of this domain is mirrored (a flushed Redis): an atomic rebuild is faster.
        res = rebuild_domain(d.name)
        report.add(d.name, None, "domain_missing")
        report.drift["missing"] += res.extensions
        report.checked += res.extensions
        report.repaired += res.written + (1 if res.status == "ok" else 0)
        if res.status != "ok":
            report.skipped_domains.append(d.name)
        return
    _check_domain_entry(conn, client, d, report)
    for entries in iter_entries(conn, d.id, templates, BATCH):
        report.checked += len(entries)
        drifted = _check_batch(client, d.name, entries, report)
        if drifted and report.repair:
            done, busy = repair_names(conn, client, d.id, d.name, drifted, templates)
            report.repaired += done
            report.busy += busy
    _strays(conn, client, d, report, templates)


def reconcile(domain: str | None = None, repair: bool = True) -> Report:
    """Compare SQL and Redis for one domain or all; repair unless repair=False. Logs a summary."""
    client = writer()
    report = Report(repair=repair)
    with connect() as conn:
        templates = load_templates(conn)
        for d in load_domains(conn, domain):
            reconcile_domain(conn, client, d, templates, report)
    if domain is None:
        remove_stray_domains(repair, report)
    level = logging.WARNING if report.total else logging.INFO
    log.log(level, "mirror %s: checked %d extensions, drift %s, repaired %d, busy %d%s",
            "reconcile" if repair else "check", report.checked, dict(report.drift) or "none",
            report.repaired, report.busy,
            f", skipped (rebuilding) {report.skipped_domains}" if report.skipped_domains else "")
    for item in report.sample[:20]:
        log.log(level, "mirror drift: %s", item)
    from app import metrics

    for kind, n in report.drift.items():
        metrics.mirror_drift.labels(kind).inc(n)
    if report.repaired:
        metrics.mirror_repaired.inc(report.repaired)
    return report
