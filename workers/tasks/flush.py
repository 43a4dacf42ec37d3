"""FreeSWITCH directory cache flush: `xml_flush_cache` on every node after a directory change.

A user served with `cacheable` stays in FreeSWITCH's cache (and `reloadxml` does not drop it),
so every change must be flushed on every node. Each name is flushed under both cache keys
(`id` and `number-alias`); one sub-task per node retries alone with backoff; a node renamed
in the config is found by its address, else every node is flushed. docs/listener.md, "The
FreeSWITCH cache flush", says which keys, the retries and the logs.
"""
from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

from app import quiet
from app.esl import commands
from app.esl.errors import EslCommandError, EslUnavailable
from app.esl.pool import esl_pool
from app.names import is_domain, is_extension

log = logging.getLogger("fscti.flush")

FLUSH_KEYS = ("id", "number-alias")
MAX_RETRIES = 12
NODE_TASK = "fscti.directory.flush_cache_node"


def flush_commands(domain: str, users) -> list[commands.ApiCommand]:
    """The `xml_flush_cache` commands for these names: each name under both keys, deduplicated."""
    out, seen = [], set()
    for user in users:
        if user in seen or not is_extension(user):
            continue
        seen.add(user)
        out.extend(commands.xml_flush_cache(key, user, domain) for key in FLUSH_KEYS)
    return out


def _valid(domain, users) -> list[str]:
    if not is_domain(domain):
        log.error("flush_cache: refusing invalid domain %r", str(domain)[:80])
        return []
    if not isinstance(users, (list, tuple)):
        log.error("flush_cache: users must be a list, got %s", type(users).__name__)
        return []
    bad = [u for u in users if not is_extension(u)]
    if bad:
        log.error("flush_cache: skipping %d invalid name(s) for %s: %r", len(bad), domain, bad[:5])
    return list(dict.fromkeys(u for u in users if is_extension(u)))


@shared_task(name="fscti.directory.flush_cache", acks_late=True, ignore_result=True,
             time_limit=60, soft_time_limit=50)
def flush_cache(domain: str, users: list[str]) -> dict:
    """Fan out: one `fscti.directory.flush_cache_node` task per configured FreeSWITCH node."""
    names = _valid(domain, users)
    nodes = current_app.config["FSCTI"].freeswitch
    if not names or not nodes:
        if names:
            log.info("flush_cache %s: no FreeSWITCH node configured", domain)
        return {"domain": domain, "nodes": []}
    for node in nodes:
        queue_node_flush(node, domain, names)
    return {"domain": domain, "nodes": [n.name for n in nodes], "users": names}


def address_of(node) -> str:
    return f"{node.host}:{node.port}"


def queue_node_flush(node, domain: str, names: list[str]) -> None:
    flush_cache_node.apply_async(args=[node.name, domain, names],
                                 kwargs={"address": address_of(node)})


def _target(settings, node_name: str, address: str | None, domain: str, users):
    """The configured node a task is for: by name, else by address (a renamed node); None
    when neither matches (then every configured node gets the flush)."""
    node = settings.node(node_name)
    if node is not None:
        return node
    node = settings.node_at(address) if address else None
    node = node or settings.node_at(node_name)
    if node is not None:
        log.warning("flush_cache: node %s (%s) is configured as %s now (same address); "
                    "%s %s flushed there", node_name, address or node_name, node.name, domain,
                    users)
    return node


@shared_task(bind=True, name=NODE_TASK, acks_late=True, ignore_result=True,
             autoretry_for=(EslUnavailable,), retry_backoff=True, retry_backoff_max=300,
             retry_jitter=True, max_retries=MAX_RETRIES, time_limit=120, soft_time_limit=100)
def flush_cache_node(self, node_name: str, domain: str, users: list[str],
                     address: str | None = None) -> dict:
    """Send every flush command to one node; retried with backoff while it is unreachable."""
    settings = current_app.config["FSCTI"]
    node = _target(settings, node_name, address, domain, users)
    if node is None:
        names = _valid(domain, users)
        if not settings.freeswitch:
            log.error("flush_cache: node %s is no longer configured and no node is; %s %s "
                      "not flushed anywhere", node_name, domain, names)
            return {"node": node_name, "flushed": 0}
        log.warning("flush_cache: node %s (%s) is no longer configured; flushing %s %s on "
                    "every configured node instead (%s)", node_name, address or "no address",
                    domain, names, ", ".join(n.name for n in settings.freeswitch))
        for other in settings.freeswitch:
            queue_node_flush(other, domain, names)
        return {"node": node_name, "flushed": 0,
                "redirected": [n.name for n in settings.freeswitch]}
    node_name = node.name
    cmds = flush_commands(domain, _valid(domain, users))
    try:
        with esl_pool().connection(node) as fs:
            for cmd in cmds:
                try:
                    fs.api(cmd)
                except EslCommandError as exc:
                    # FreeSWITCH refused (e.g. mod_commands not loaded): retrying cannot help.
                    log.error("flush_cache on %s: %s", node_name, exc)
    except EslUnavailable as exc:
        if self.request.retries >= self.max_retries:
            log.error("flush_cache on %s GAVE UP after %d attempts (%s): FreeSWITCH may still "
                      "serve cached %s@%s; run `xml_flush_cache id <name> %s` there by hand",
                      node_name, self.request.retries + 1, exc, users, domain, domain)
            return {"node": node_name, "flushed": 0, "gave_up": True}
        quiet.warn_every(log, quiet.unreachable(node_name), settings.unreachable_log_interval,
                         _redis(), "%s: FreeSWITCH unreachable (%s); cache flush of %s retried "
                         "with backoff (attempt %d/%d)", node_name, exc, domain,
                         self.request.retries + 1, self.max_retries + 1)
        raise
    log.info("flush_cache on %s: %d command(s) for %s", node_name, len(cmds), domain)
    return {"node": node_name, "flushed": len(cmds)}


def _redis():
    from app.extensions import redis_ext

    return redis_ext.client
