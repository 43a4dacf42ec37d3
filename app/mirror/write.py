"""SQL → Redis mirror of the directory. Called after every commit that changes the directory.

Writes `cti_exten@<domain>` (SPEC §1: field = extension, value = effective JSON; disabled
extensions are absent and listed in the disabled set), the alias index and the domain entry used
by /directory. Every write is one Lua script (app.mirror.scripts), so an alias change removes
the old alias atomically and a write during a rebuild also lands in the rebuild's aside copy.

Every script first checks, in the same call, that Redis still holds its data generation
(lua/guard.lua, docs/redis-loss.md): after a loss nothing is written (the first write to see
it claims and queues the one heal) and, while that heal runs, a domain it has not rebuilt yet
gets nothing either; the rebuild reads SQL after the caller's commit and carries the change.

SQL is the truth: when Redis fails, these functions log, queue a repair, and return False instead
of raising, so the API call that already committed still succeeds. The beat job
`fscti.directory.reconcile` repairs whatever could not be queued.
"""
import logging
from collections import defaultdict
from typing import Iterable

import redis
from flask import current_app

from app.mirror.client import writer
from app.mirror.repairs import repairs
from app.mirror.scripts import scripts_for
from app.mirror.source import (Entry, connect, domain_json_of_model, entry_of_model,
                               iter_entries, load_domains, load_templates)
from app.state import keys

log = logging.getLogger(__name__)

OPS_PER_CALL = 500
REDIS_ERRORS = (redis.RedisError, OSError)


# What the guard (lua/guard.lua) returns instead of writing: Redis lost its data (no generation
# marker), or a heal of that loss has not rebuilt the domain yet. Either way the heal's rebuild
# reads SQL after the caller's commit, so it carries the change.
LOST, PENDING = -2, -3


def guard_keys(domain: str) -> list[str]:
    """The guard's KEYS, right after each mirror write script's own KEYS (fixed positions)."""
    return [keys.generation(), keys.mirror_generation(domain)]


def write_keys(domain: str) -> list[str]:
    """KEYS of the WRITE script for a domain."""
    return [keys.exten(domain), keys.alias(domain), keys.disabled(domain),
            keys.mirror_rebuild_marker(domain), keys.exten_aside(domain), keys.alias_aside(domain),
            keys.disabled_aside(domain), keys.mirror_touched(domain), keys.mirror_seq(domain),
            *guard_keys(domain)]


def domain_keys(domain: str) -> list[str]:
    """KEYS of the DOMAIN_SET script."""
    return [keys.domains(), keys.mirror_rebuild_marker(domain), keys.mirror_touched(domain),
            keys.mirror_seq(domain), *guard_keys(domain)]


def delete_keys(domain: str) -> list[str]:
    """KEYS of the DOMAIN_DELETE script."""
    return [keys.domains(), *write_keys(domain)[:8], keys.mirror_seq(domain), *guard_keys(domain)]


def guarded(client, n: int) -> int:
    """A script's result; when the guard found Redis's data lost, the heal is claimed and
    queued first (one claim for all processes: app.state.generation)."""
    if n == LOST:
        heal_lost(client)
    return n


def heal_lost(client) -> None:
    """A mirror write found no generation marker: claim the heal and queue it now rather than
    wait for the listener's or the tick's next check. Never raises: SQL is committed, and
    those checks claim it anyway if this cannot."""
    from app.state import generation

    try:
        celery = current_app.extensions["celery"]
        generation.watch(client, lambda claim: generation.queue_heal(celery, claim),
                         "a mirror write")
    except Exception as exc:
        log.warning("mirror: Redis lost its data; could not queue the heal from here (%s: %s); "
                    "the listener's or the beat's check will", type(exc).__name__, exc)


def op_of(entry: Entry) -> list[str]:
    """The WRITE script's op for an entry: U (enabled) or D (disabled)."""
    return ["U", entry.name, entry.json, entry.alias] if entry.enabled else ["D", entry.name, "", ""]


def write_ops(client, domain: str, ops: list[list[str]], expect_seq: str = "") -> int:
    """Apply ops to a domain in chunks; returns ops applied, -1 if expect_seq no longer holds,
    or LOST / PENDING (nothing written: the heal's rebuild carries them)."""
    script = scripts_for(client).write
    k = write_keys(domain)
    done = 0
    for i in range(0, len(ops), OPS_PER_CALL):
        argv = [expect_seq]
        for op in ops[i:i + OPS_PER_CALL]:
            argv.extend(op)
        n = guarded(client, script(keys=k, args=argv))
        if n < 0:
            return n  # -1 seq moved; LOST / PENDING: the heal's rebuild carries these ops
        done += n
        expect_seq = ""  # only the first chunk is conditional; callers pass small lists
    return done


def _failed(what: str, domain: str, names: list[str] | None, exc: Exception) -> None:
    """Log a mirror write that did not reach Redis and queue its repair."""
    app = current_app._get_current_object()
    log.error("mirror: %s for %s failed (%s: %s); SQL is committed, repair queued",
              what, domain, type(exc).__name__, exc)
    if names:
        repairs.extensions(app, domain, names)
    else:
        repairs.domain(app, domain)


def mirror_domain(domain, pipe=None) -> bool:
    """Write the domain's own entry (realm, params, variables). `pipe` is accepted and ignored."""
    client = writer()
    try:
        guarded(client, scripts_for(client).domain_set(
            keys=domain_keys(domain.name), args=[domain.name, domain_json_of_model(domain), "", ""]))
        return True
    except REDIS_ERRORS as exc:
        _failed("domain write", domain.name, None, exc)
        return False


def mirror_extensions(extensions: Iterable, domain_name: str | None = None) -> int:
    """Write the effective JSON of each extension (disabled ones are removed). Returns the count.

    On a Redis failure the count written so far is returned and a repair of the rest is queued.
    """
    by_domain: dict[str, list[list[str]]] = defaultdict(list)
    for ext in extensions:
        by_domain[domain_name or ext.domain.name].append(op_of(entry_of_model(ext)))
    client = writer()
    total = 0
    for dname, ops in by_domain.items():
        try:
            total += max(0, write_ops(client, dname, ops))
        except REDIS_ERRORS as exc:
            _failed(f"write of {len(ops)} extension(s)", dname, [op[1] for op in ops], exc)
    return total


def unmirror_extension(domain_name: str, name: str, alias: str | None = None) -> bool:
    """Remove an extension (and its alias) from Redis."""
    try:
        write_ops(writer(), domain_name, [["X", name, "", alias or ""]])
        return True
    except REDIS_ERRORS as exc:
        _failed(f"delete of {name}", domain_name, [name], exc)
        return False


def unmirror_domain(domain_name: str) -> bool:
    """Remove a domain and everything mirrored under it (a rebuild in progress is aborted)."""
    client = writer()
    try:
        guarded(client, scripts_for(client).domain_delete(keys=delete_keys(domain_name),
                                                          args=[domain_name, ""]))
        return True
    except REDIS_ERRORS as exc:
        _failed("domain delete", domain_name, None, exc)
        return False


def mirror_template(template_id: int, batch: int = 1000) -> int:
    """Re-mirror every extension using a template (streamed from SQL). Returns the count."""
    client = writer()
    total = 0
    with connect() as conn:
        templates = load_templates(conn)
        for d in load_domains(conn):
            for entries in iter_entries(conn, d.id, templates, batch, template_id=template_id):
                try:
                    total += max(0, write_ops(client, d.name, [op_of(e) for e in entries]))
                except REDIS_ERRORS as exc:
                    _failed("template re-mirror", d.name, None, exc)
                    break
    return total


def mirror_entries(domain_name: str, entries: Iterable[Entry]) -> int:
    """Write prepared entries (bulk paths that already computed them)."""
    return write_ops(writer(), domain_name, [op_of(e) for e in entries])


def seq_of(client, domain: str) -> str:
    """The domain's write counter now: a conditional write (expect_seq) applies only while it holds."""
    return client.get(keys.mirror_seq(domain)) or "0"
