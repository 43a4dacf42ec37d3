"""SQL → Redis mirror of the directory. Called after every commit that changes the directory.

Writes `cti_exten@<domain>` (SPEC §1), the alias index and the domain entry used by /directory.
All key names come from app.state.keys.
"""
import json
import logging
from typing import Iterable

from app.directory.effective import effective, number_alias
from app.extensions import redis_ext
from app.state import keys

log = logging.getLogger(__name__)


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def domain_value(domain) -> str:
    return dumps({"realm": domain.realm, "param": domain.param or {}, "variable": domain.variable or {}})


def mirror_domain(domain, pipe=None) -> None:
    """Write the domain's own entry (realm, params, variables)."""
    p = pipe or redis_ext.client.pipeline()
    p.hset(keys.domains(), domain.name, domain_value(domain))
    if pipe is None:
        p.execute()


def mirror_extensions(extensions: Iterable, domain_name: str | None = None) -> int:
    """Write the effective JSON of each extension (disabled ones are removed). Returns the count."""
    pipe = redis_ext.client.pipeline(transaction=False)
    n = 0
    for ext in extensions:
        dname = domain_name or ext.domain.name
        eff = effective(ext)
        alias = number_alias(eff)
        if ext.enabled:
            pipe.hset(keys.exten(dname), ext.name, dumps(eff))
            pipe.srem(keys.disabled(dname), ext.name)
        else:
            pipe.hdel(keys.exten(dname), ext.name)
            pipe.sadd(keys.disabled(dname), ext.name)
        if alias and alias != ext.name:
            pipe.hset(keys.alias(dname), alias, ext.name)
        n += 1
        if len(pipe) >= 2000:
            pipe.execute()
    pipe.execute()
    return n


def unmirror_extension(domain_name: str, name: str, alias: str | None = None) -> None:
    """Remove an extension (and its alias) from Redis."""
    pipe = redis_ext.client.pipeline()
    pipe.hdel(keys.exten(domain_name), name)
    pipe.srem(keys.disabled(domain_name), name)
    if alias:
        pipe.hdel(keys.alias(domain_name), alias)
    pipe.execute()


def unmirror_domain(domain_name: str) -> None:
    """Remove a domain and everything mirrored under it."""
    pipe = redis_ext.client.pipeline()
    pipe.hdel(keys.domains(), domain_name)
    pipe.delete(keys.exten(domain_name), keys.alias(domain_name), keys.disabled(domain_name))
    pipe.execute()
