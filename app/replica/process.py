"""The replica process of one host (Procfile `replica`, workers/replica.py).

Loop: read the feed (XREAD BLOCK from the last entry applied), re-read from Redis what the
entries name, apply it to the file in one transaction, then renew the lease with the number
applied (lua/renew.lua). The protocol that keeps every lookup exact:

- Readers trust the file until `Mtrust` (store.py). It is only ever set to t0 + lease, t0 taken
  before the renewal that made Redis's lease expire at t0 + lease or later: the file stops
  being trusted before Redis drops the lease, i.e. before a writer stops waiting for the host.
- A renewal that finds the lease gone (first start, a refill, a stall longer than the lease)
  may follow writes that did not wait for this host. The file is trusted again only once the
  feed has been applied up to the counter that renewal read (every such write is at or below
  it); from that renewal on, writers wait for the host.
- Entries are numbered: a gap (the stream was trimmed past us, Redis lost its data and counts
  from 1 again) means a full refill, and so does a changed epoch (lua/renew.lua). A rebuild's
  swap ('r') refills that domain. While filling, the file is not trusted and the lease is
  revoked first (local trust, then Redis), so nobody waits and nobody reads the partial file.
- Each applied value was read from Redis after its entry was read, so it is that entry's
  state or newer; values only move forward.
"""
from __future__ import annotations

import json
import logging
import secrets
import time
from pathlib import Path

import redis

from app.replica import fill, store
from app.state import keys

log = logging.getLogger(__name__)

RENEW = (Path(__file__).parent / "lua" / "renew.lua").read_text(encoding="utf-8")
READ_COUNT = 1000


class Replica:
    """One host's replica: the file, the Redis client, the position in the feed."""

    def __init__(self, client: redis.Redis, path: str, host: str, lease: float):
        self.client = client
        self.env = store.open_writer(path)
        self.host = host
        self.lease = lease
        self.lease_key = keys.replica_lease(host)
        self.renew_script = client.register_script(RENEW)
        self.epoch = b""
        self.last_id = b"0-0"
        self.applied = 0
        self.target: int | None = None  # catch up to this before trusting the file again
        self.refills = 0  # full fills
        self.domain_refills = 0
        self.need_fill = True  # until a full fill has completed
        self.steps = 0

    # --- trust -------------------------------------------------------------------------------
    def distrust(self) -> None:
        """Readers stop trusting the file now (no Redis needed)."""
        with self.env.begin(write=True) as txn:
            txn.put(store.TRUST, store.trust_value(0.0))

    def revoke(self) -> None:
        """Stop being trusted, then stop being waited for (in that order)."""
        self.distrust()
        self.client.delete(self.lease_key)

    def renew(self) -> None:
        t0 = time.monotonic()
        counter, alive = self.renew_script(
            keys=[keys.replica_epoch(), self.lease_key, keys.replica_hosts(), keys.replica_counter()],
            args=[self.epoch, self.applied, max(1, int(self.lease * 1000))])
        if counter < 0:
            log.warning("replica: the Redis epoch changed (Redis lost its data?): full refill")
            self.fill_all()
            return
        if not alive:
            self.target = counter  # writers may not have waited for us up to here
        if self.target is not None and self.applied < self.target:
            return
        self.target = None
        with self.env.begin(write=True) as txn:
            txn.put(store.TRUST, store.trust_value(t0 + self.lease))
            txn.put(store.APPLIED, str(self.applied).encode())

    # --- filling -----------------------------------------------------------------------------
    def fill_all(self) -> None:
        self.need_fill = True
        self.revoke()
        token = secrets.token_hex(16).encode()
        pipe = self.client.pipeline(transaction=True)
        pipe.set(keys.replica_epoch(), token, nx=True)
        pipe.get(keys.replica_epoch())
        pipe.get(keys.replica_counter())
        pipe.xrevrange(keys.replica_feed(), count=1)
        _, self.epoch, counter, last = pipe.execute()
        self.applied = int(counter or 0)
        self.last_id = last[0][0] if last else b"0-0"
        self.target = None
        total, seconds = fill.fill_all(self.client, self.env, self.host, self.epoch, self.applied)
        self.refills += 1
        self.need_fill = False
        log.info("replica: filled %d extensions in %.1f s (feed entry %d)", total, seconds, self.applied)

    def refill_domains(self, domains: set) -> None:
        self.revoke()
        for d in sorted(domains):
            n = fill.fill_domain(self.client, self.env, d)
            self.domain_refills += 1
            log.info("replica: refilled %s (%d extensions) after its rebuild", d.decode(), n)

    # --- the feed ----------------------------------------------------------------------------
    def step(self, block_ms: int) -> int:
        """Read and apply one batch of the feed, then renew. Returns entries applied."""
        got = self.client.xread({keys.replica_feed(): self.last_id}, count=READ_COUNT, block=block_ms)
        entries = got[0][1] if got else []
        n = self.apply(entries) if entries else 0
        self.renew()
        self.steps += 1
        if self.steps % 1000 == 0:
            self.env.reader_check()  # free the reader slots of workers that died mid-read
        return n

    def apply(self, entries) -> int:
        touched: dict[bytes, tuple[set, set]] = {}
        entry_reads: set = set()
        dropped: set = set()
        refill: set = set()
        applied, last_id = self.applied, self.last_id
        for entry_id, f in entries:
            n = int(f[b"n"])
            if n != applied + 1:
                log.warning("replica: feed entry %d follows %d (trimmed or Redis restarted): full refill",
                            n, applied)
                self.fill_all()
                return 0
            applied, last_id = n, entry_id
            kind = f[b"t"]
            if kind == b"w":
                domain = keys.exten_domain(f[b"x"].decode()).encode()
                names, fields = touched.setdefault(domain, (set(), set()))
                names.update(_names(f.get(b"e")))
                fields.update(_names(f.get(b"a")))
            elif kind == b"d":
                entry_reads.add(f[b"dn"])
            elif kind == b"X":
                dropped.add(f[b"dn"])
                entry_reads.add(f[b"dn"])
            elif kind == b"r":
                refill.add(keys.exten_domain(f[b"x"].decode()).encode())
        if refill:
            self.refill_domains(refill)
        self._write(*self._read(touched, entry_reads), dropped)
        self.applied, self.last_id = applied, last_id  # only once the file has it
        return len(entries)

    def _read(self, touched: dict, entry_reads: set):
        pipe = self.client.pipeline(transaction=False)
        plan = []
        domains = sorted(entry_reads)
        if domains:
            pipe.hmget(keys.domains(), domains)
        for d, (names, fields) in touched.items():
            name = d.decode()
            names, fields = sorted(names), sorted(fields)
            if names:
                pipe.hmget(keys.exten(name), names)
                pipe.smismember(keys.disabled(name), names)
            if fields:
                pipe.hmget(keys.alias(name), fields)
            plan.append((d, names, fields))
        return (domains, plan, pipe.execute()) if (domains or plan) else (domains, plan, [])

    def _write(self, domains: list, plan: list, results: list, dropped: set) -> None:
        it = iter(results)
        with self.env.begin(write=True) as txn:
            for d in dropped:
                store.drop_domain(txn, d, entry_too=True)
            if domains:
                for d, value in zip(domains, next(it)):
                    _set(txn, store.domain_key(d), value)
            for d, names, fields in plan:
                if names:
                    values, disabled = next(it), next(it)
                    for name, value, off in zip(names, values, disabled):
                        _set(txn, store.exten_key(d, name), value)
                        _set(txn, store.disabled_key(d, name), b"" if off else None)
                if fields:
                    for field, value in zip(fields, next(it)):
                        _set(txn, store.alias_key(d, field), value)

    # --- the loop ----------------------------------------------------------------------------
    def run(self, stop, block_ms: int) -> None:
        """Fill, then follow the feed until `stop()`; Redis errors distrust the file and retry."""
        backoff = 0.1
        while not stop():
            try:
                if self.need_fill:
                    self.fill_all()
                self.step(block_ms)
                backoff = 0.1
            except (redis.RedisError, OSError) as exc:
                self.distrust()  # the lease then expires in Redis by itself
                log.warning("replica: Redis unavailable (%s: %s); the file is not trusted until "
                            "the feed is read again", type(exc).__name__, exc)
                time.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
        try:
            self.revoke()
            self.client.srem(keys.replica_hosts(), self.lease_key)
        except (redis.RedisError, OSError):
            self.distrust()


def _names(raw: bytes | None) -> list:
    if not raw:
        return []
    value = json.loads(raw)
    return [n.encode() for n in value] if isinstance(value, list) else []


def _set(txn, key: bytes, value) -> None:
    if value is None:
        txn.delete(key)
    else:
        txn.put(key, value)
