"""Filling the replica file from Redis: everything (at start, after a gap or a data loss) or
one domain (a rebuild swapped it). The file is not trusted while it fills (process.py)."""
from __future__ import annotations

import time

from app.replica import store
from app.state import keys

SCAN_COUNT = 2000
PUTS_PER_TXN = 20000


def _scan_pairs(client, key: str):
    for field, value in client.hscan_iter(key, count=SCAN_COUNT):
        yield field, value


def _put_batched(env, items) -> int:
    """Write (key, value) pairs in transactions of PUTS_PER_TXN; returns how many."""
    n = 0
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= PUTS_PER_TXN:
            with env.begin(write=True) as txn:
                txn.cursor().putmulti(batch)
            n += len(batch)
            batch = []
    if batch:
        with env.begin(write=True) as txn:
            txn.cursor().putmulti(batch)
        n += len(batch)
    return n


def fill_domain(client, env, domain: bytes) -> int:
    """Replace what the file holds of `domain`'s extensions, aliases and disabled names by
    what Redis holds now (scanned: each value is read after the scan began). Returns the count
    of extensions."""
    name = domain.decode()
    with env.begin(write=True) as txn:
        store.drop_domain(txn, domain, entry_too=False)
    count = _put_batched(env, ((store.exten_key(domain, f), v)
                               for f, v in _scan_pairs(client, keys.exten(name))))
    _put_batched(env, ((store.alias_key(domain, f), v)
                       for f, v in _scan_pairs(client, keys.alias(name))))
    _put_batched(env, ((store.disabled_key(domain, m), b"")
                       for m in client.sscan_iter(keys.disabled(name), count=SCAN_COUNT)))
    return count


def fill_all(client, env, host: str, epoch: bytes, applied: int) -> tuple[int, float]:
    """Empty the file and fill it with every domain Redis holds. Returns (extensions, seconds)."""
    t0 = time.monotonic()
    with env.begin(write=True) as txn:
        txn.drop(env.open_db(), delete=False)
        txn.put(store.TRUST, store.trust_value(0.0))
        txn.put(store.FORMAT_KEY, store.FORMAT)
        txn.put(store.HOST, host.encode())
        txn.put(store.EPOCH, epoch)
        txn.put(store.APPLIED, str(applied).encode())
    domains = client.hgetall(keys.domains())
    with env.begin(write=True) as txn:
        for d, value in domains.items():
            txn.put(store.domain_key(d), value)
    total = sum(fill_domain(client, env, d) for d in domains)
    seconds = time.monotonic() - t0
    with env.begin(write=True) as txn:
        txn.put(store.FILLED, f"{seconds:.3f}".encode())
    return total, seconds
