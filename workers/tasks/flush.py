"""FreeSWITCH directory cache flush: `xml_flush_cache` on every node after a directory change.

A user served with `cacheable` is kept by FreeSWITCH (for N ms, or forever for any other
value) and `reloadxml` does not drop it (facts §0.9, §2.5), so every change to such a user
must be flushed on every node, or the old password/ACL/variables stay in force.

Which cache keys: FreeSWITCH caches the merged user under the plain concatenation
`<key><name-as-requested><domain-as-requested>` and a flush removes exactly one such key.
- `id` + the extension name: registrations and `user/<ext>` calls.
- `id` + the number-alias: a phone authenticating with its alias, `user/<alias>`, message-count;
  the `id` lookup matches a user by its alias too, so FreeSWITCH caches it under the alias.
- `number-alias` + the alias: lookups with key `number-alias` (mod_voicemail's `id:number-alias`
  fallback caches under the key that matched).
The API sends the extension's names and aliases (old and new) in one list without saying which
is which, so each name is flushed under both keys: two O(1) hash deletions per name, and a
flush of a key that was never cached just answers `+OK cleared 0 entries`.
Not covered: a lookup that used a different letter case or another spelling of the domain
(the key is case-sensitive); such an entry lives until its `cacheable` time runs out.

One sub-task per node, so a node that is down retries on its own (Celery's exponential
backoff with jitter, up to MAX_RETRIES ≈ 30 min) and never delays the others.
"""
from __future__ import annotations

import logging

from celery import shared_task
from flask import current_app

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
        flush_cache_node.apply_async(args=[node.name, domain, names])
    return {"domain": domain, "nodes": [n.name for n in nodes], "users": names}


@shared_task(bind=True, name=NODE_TASK, acks_late=True, ignore_result=True,
             autoretry_for=(EslUnavailable,), retry_backoff=True, retry_backoff_max=300,
             retry_jitter=True, max_retries=MAX_RETRIES, time_limit=120, soft_time_limit=100)
def flush_cache_node(self, node_name: str, domain: str, users: list[str]) -> dict:
    """Send every flush command to one node; retried with backoff while it is unreachable."""
    node = current_app.config["FSCTI"].node(node_name)
    if node is None:
        log.warning("flush_cache: node %s is no longer configured; %s %s not flushed there",
                    node_name, domain, users)
        return {"node": node_name, "flushed": 0}
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
        else:
            log.warning("flush_cache on %s: unreachable (%s), retry %d/%d with backoff",
                        node_name, exc, self.request.retries + 1, self.max_retries)
        raise
    log.info("flush_cache on %s: %d command(s) for %s", node_name, len(cmds), domain)
    return {"node": node_name, "flushed": len(cmds)}
