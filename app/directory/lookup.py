"""The directory hot path: a per-process cache kept exact by Redis, one Redis round trip on a
miss, SQL only when Redis cannot answer.

`Directory.answer(query)` returns the XML bytes. First the answer cache of this thread's Redis
connection (app.directory.cache; the invalidations Redis has pushed are applied just before, see
HotConnection.fresh_cache), so a repeated lookup costs no round trip and is never older than
what Redis holds. Then, with `directory.replica` on, this host's replica file while it is
trusted (app.directory.replica: the same reply as the lookup script, no round trip; its
answers are not cached, the tracking does not cover them). Otherwise Redis is asked with one EVALSHA (domain entry + user, resolving a
number-alias inside Redis) and a well-formed answer is cached. When Redis is down (a circuit
breaker then skips it for BREAK_SECONDS, so a dead Redis costs no timeout per request) or the
user is missing from the mirror, SQL answers and, if SQL has what Redis lacks, a repair is
queued: an existing extension never fails to register because of Redis. SQL answers for found
users are never cached. SQL's verdict on unknown users and domains is remembered for NEGATIVE_TTL
seconds so a SIP scanner cannot turn into an SQL query per attempt; while Redis answers, the
answer built on it goes into the answer cache like any other (it depends on the same keys:
a domain change or a new extension invalidates it) and is rebuilt on the domain entry Redis
holds now, never on the one SQL gave when the verdict was taken.
"""
import hashlib
import json
import logging
import time
from pathlib import Path

import redis
from flask import current_app, has_app_context

from app.directory import xml
from app.directory.clients import for_app
from app.directory.form import INVALID_USER, Query
from app.directory.replica import ReplicaReader
from app.directory.resp import bulk, pack
from app.directory.sql import SqlAnswer, sql_lookup
from app.extensions import per_app
from app.metrics import directory as metered
from app.mirror.effective import SECTIONS
from app.mirror.repairs import repairs
from app.state import keys

log = logging.getLogger(__name__)

BREAK_SECONDS = 1.0
NEGATIVE_TTL = 5.0
NEGATIVE_MAX = 10000
LOG_EVERY = 10.0

# The lookup script: what the mirror (app.mirror) wrote, read in one round trip.
LOOKUP = (Path(__file__).parent / "lua" / "lookup.lua").read_text(encoding="utf-8")
UNKNOWN_DOMAIN, DOMAIN_ONLY, FOUND, DISABLED, NOT_MIRRORED = 0, 1, 2, 3, 4
MODE_ID, MODE_ALIAS = bulk("id"), bulk("alias")
# Outcomes of a lookup, as app.metrics counts them (fscti_directory_lookups_total).
_O = metered.OUTCOME
O_USER, O_DOMAIN, O_UNKNOWN, O_DISABLED = _O["user"], _O["domain"], _O["unknown"], _O["disabled"]
O_NOT_FOUND, O_SQL, O_ERROR = _O["not-found"], _O["sql-fallback"], _O["error"]
_perf = time.perf_counter


class Directory:
    """Answers mod_xml_curl directory lookups for one app (one per process)."""

    def __init__(self, app):
        self.app = app
        self.reader = for_app(app).reader
        self.sha = hashlib.sha1(LOOKUP.encode()).hexdigest()
        self.heads = xml.DomainHeads()
        self.down_until = 0.0
        self._last_log = 0.0
        self._negative: dict[tuple, float] = {}
        settings = app.config["FSCTI"]
        # This host's replica (docs/freeswitch.md §7.1), asked before Redis when it is on.
        self.replica = ReplicaReader(settings.directory_replica_path) if settings.directory_replica else None
        self.stats = {"cache": 0, "redis": 0, "sql": 0, "redis_down": 0, "repairs": 0, "replica": 0}
        self._prefixes: dict[str, bytes] = {}
        self._deps: dict[str, tuple] = {}  # domain -> the Redis keys its answers are computed from
        self._canonical: dict[str, str] = {}  # requested domain -> SQL's spelling (case differs)

    # --- Redis ---------------------------------------------------------------------------
    def _redis(self, domain: str, user: str, mode: str):
        """The LOOKUP script's reply, or None when Redis cannot answer."""
        if self.down_until and time.monotonic() < self.down_until:
            return None
        prefix = self._prefixes.get(domain)
        if prefix is None:
            prefix = self._prefix(domain)
        packed = prefix + bulk(user) + (MODE_ALIAS if mode == "alias" else MODE_ID)
        try:
            try:
                reply = self.reader.execute_packed(packed)
            except redis.exceptions.NoScriptError:
                self.reader.script_load(LOOKUP)
                reply = self.reader.execute_packed(packed)
        except (redis.RedisError, OSError) as exc:
            self.down_until = time.monotonic() + BREAK_SECONDS
            self.stats["redis_down"] += 1
            metered.breaker(True)
            self._warn("directory: Redis unavailable (%s: %s); answering from SQL", type(exc).__name__, exc)
            return None
        if self.down_until:  # Redis answers again: the breaker closes
            self.down_until = 0.0
            metered.breaker(False)
        return reply

    def _prefix(self, domain: str) -> bytes:
        """`EVALSHA sha 4 <keys of domain> <domain>` as RESP, without the last two arguments."""
        whole = pack("EVALSHA", self.sha, 4, keys.domains(), keys.exten(domain), keys.alias(domain),
                     keys.disabled(domain), domain, "", "")
        prefix = whole[:-2 * len(bulk(""))]  # the user and the mode are appended per request
        if len(self._prefixes) > 1024:
            self._prefixes.clear()
            self._deps.clear()
        self._prefixes[domain] = prefix
        # Exactly the script's KEYS: it reads nothing else, so nothing else can change its answer.
        self._deps[domain] = (keys.domains(), keys.exten(domain), keys.alias(domain), keys.disabled(domain))
        return prefix

    def _warn(self, msg: str, *args) -> None:
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY:
            self._last_log = now
            log.warning(msg, *args)

    # --- the answer --------------------------------------------------------------------------
    def answer(self, q: Query) -> bytes:
        """XML for a parsed request (counted by app.metrics: outcome, latency, cache)."""
        started = _perf()
        try:
            body, outcome, hit = self._answer(q)
        except Exception:
            metered.meter.done(O_ERROR, started, None)
            raise
        metered.meter.done(outcome, started, hit)
        return body

    def _answer(self, q: Query) -> tuple[bytes, int, bool | None]:
        """(XML, outcome, answer-cache hit or None if not asked) for a parsed request."""
        if q.section != "directory" or not q.domain or (not q.user and q.purpose):
            return xml.NOT_FOUND, O_NOT_FOUND, None
        if q.user == INVALID_USER:  # cannot be an extension: answer the domain without a user
            q = q._replace(user="")
        mode = "alias" if q.by_alias else "id"
        key = (q.domain, q.user, mode)
        cache = self.reader.fresh_cache()
        if cache is not None:
            cached = cache.get(key)
            if cached is not None:
                self.stats["cache"] += 1
                return cached[0], cached[1], True
        domain = self._canonical.get(q.domain, q.domain)
        reply = self.replica.lookup(domain, q.user, mode) if self.replica is not None else None
        from_redis = reply is None  # the answer cache keeps only what Redis's tracking covers
        if from_redis:
            reply = self._redis(domain, q.user, mode)
        else:
            self.stats["replica"] += 1
        if reply is not None:
            state, body = reply[0], None
            if state == FOUND:
                eff = _decode(reply[3])
                if eff is not None:
                    self.stats["redis"] += from_redis
                    body = xml.document(self.heads.get(q.domain, reply[1]), reply[2], eff)
                    outcome = O_USER
                else:
                    log.error("directory: %s@%s has a malformed value in Redis; answering from SQL",
                              reply[2], domain)
            elif state in (DOMAIN_ONLY, DISABLED):
                body = xml.document(self.heads.get(q.domain, reply[1]))
                outcome = O_DISABLED if state == DISABLED else (O_UNKNOWN if q.user else O_DOMAIN)
            if body is not None:
                if from_redis:
                    self._keep(key, domain, body, outcome)
                return body, outcome, False if cache is not None else None
        body, outcome = self._from_sql(q, mode, domain, reply, from_redis)
        return body, outcome, False if cache is not None else None

    def _keep(self, key: tuple, domain: str, body: bytes, outcome: int) -> None:
        """Cache an answer Redis just gave (from the keys of `domain`, the name Redis was asked)."""
        cache = self.reader.cache()  # the connection that gave the reply; its pushes so far applied
        if cache is not None:
            deps = self._deps.get(domain)
            if deps is not None:
                cache.put(key, (body, outcome), deps)

    def _from_sql(self, q: Query, mode: str, asked: str, reply, keep: bool = True) -> tuple[bytes, int]:
        """(answer, outcome) from SQL; `asked` is the domain name Redis (or the replica, then
        `keep` is False: nothing goes into the answer cache) was asked with."""
        key = (q.domain, q.user, mode)
        known = self._negative.get(key)
        if known is not None and known[0] > time.monotonic():
            body = self._recall(q.domain, known[1], reply)
            if body is not None:
                outcome = known[2]
                if reply is not None and keep:
                    self._keep(key, asked, body, outcome)
                return body, outcome
        self.stats["sql"] += 1
        found = self._sql_lookup(q.domain, q.user, q.by_alias)
        if found.domain is None:
            if self._canonical.pop(q.domain, None) is not None:
                self._forget_answers()
            self._remember(key, None, O_NOT_FOUND)
            if reply is not None and keep and asked == q.domain:
                self._keep(key, asked, xml.NOT_FOUND, O_NOT_FOUND)
            return xml.NOT_FOUND, O_SQL
        if found.domain != q.domain and self._canonical.get(q.domain) != found.domain:
            # FreeSWITCH matches domains case-insensitively; ask Redis with SQL's spelling next time.
            if len(self._canonical) >= NEGATIVE_MAX:
                self._canonical.clear()
            self._canonical[q.domain] = found.domain
            self._forget_answers()  # cached answers for q.domain were read under the old name
        elif found.domain == q.domain and self._canonical.pop(q.domain, None) is not None:
            self._forget_answers()
        if reply is not None and found.domain == asked:
            self._queue_repair(found, reply)
        head = self.heads.get(q.domain, found.domain_json)
        if found.name is None or not found.enabled:
            body = xml.document(head)
            if q.user:
                outcome = O_UNKNOWN if found.name is None else O_DISABLED
                self._remember(key, found.domain_json, outcome)
                if reply is not None and keep and found.domain == asked:
                    self._keep(key, asked, body, outcome)
            return body, O_SQL
        return xml.document(head, found.name, found.eff), O_SQL

    def _sql_lookup(self, domain: str, user: str, by_alias: bool) -> SqlAnswer:
        """sql_lookup in an app context: the WSGI middleware (app.directory.wsgi) answers
        without one, and pushes none for the lookups Redis answers."""
        if has_app_context():
            return sql_lookup(domain, user, by_alias)
        with self.app.app_context():  # its teardown removes the session, as a request's does
            return sql_lookup(domain, user, by_alias)

    def _recall(self, requested: str, domain_json: str | None, reply) -> bytes | None:
        """The answer for a user or domain SQL lately confirmed as unknown, or None to ask SQL
        again. With Redis down, the domain entry SQL gave then; with Redis up, the domain entry
        Redis holds now (fenced: a domain change is there when its API call returns), and only
        while Redis agrees with what SQL said (a domain created since then is asked again)."""
        if reply is None:
            return xml.document(self.heads.get(requested, domain_json)) if domain_json else xml.NOT_FOUND
        if domain_json is None:
            return xml.NOT_FOUND if reply[0] == UNKNOWN_DOMAIN else None
        return xml.document(self.heads.get(requested, reply[1])) if reply[0] == NOT_MIRRORED else None

    def _forget_answers(self) -> None:
        """Which Redis domain answers a requested name changed: clear this thread's cache (rare)."""
        cache = self.reader.cache()
        if cache is not None:
            cache.clear()

    def _remember(self, key: tuple, domain_json: str | None, outcome: int) -> None:
        """Remember an answer SQL confirmed as unknown (user or domain) for NEGATIVE_TTL."""
        if len(self._negative) >= NEGATIVE_MAX:
            self._negative.clear()
        self._negative[key] = (time.monotonic() + NEGATIVE_TTL, domain_json, outcome)

    def _queue_repair(self, found: SqlAnswer, reply) -> None:
        """Redis answered but lacks what SQL has: queue the matching repair."""
        if reply[0] == UNKNOWN_DOMAIN:
            self.stats["repairs"] += 1
            log.warning("directory: domain %s is in SQL but not in Redis; rebuild queued", found.domain)
            repairs.domain(self.app, found.domain)
        elif found.name is not None:
            self.stats["repairs"] += 1
            log.warning("directory: %s@%s is in SQL but not in Redis; repair queued", found.name, found.domain)
            repairs.extensions(self.app, found.domain, [found.name])


def _decode(value: str) -> dict | None:
    """An extension's JSON from Redis, or None if it is not the SPEC §1 object (someone else
    wrote the hash): SQL then answers and the repair rewrites it."""
    try:
        eff = json.loads(value)
    except ValueError:
        return None
    if not isinstance(eff, dict) or not all(isinstance(eff.get(s, {}), dict) for s in SECTIONS):
        return None
    return eff


def directory(app=None) -> Directory:
    """The Directory of `app` (default: the current app)."""
    return per_app(app or current_app._get_current_object(), "fscti-directory", Directory)
