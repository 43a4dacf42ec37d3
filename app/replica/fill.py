"""Filling the replica file from Redis: everything (at start, after a gap or a data loss) or
one domain (a rebuild swapped it). The file is not trusted while it fills (process.py).

Both write in key order. HSCAN hands a hash's fields in hash order; put in that order, the
B-tree's pages split in the middle and stay about two thirds full (a 1M-extension file was
~540 MB). So a hash is read in two passes: HSCAN for its field names only (the values it
sends are dropped batch by batch), sorted, then HMGET in that order. The process holds the
names of one hash at a time (~56 bytes each: ~56 MB for a 1M-extension domain, while it
fills), never the values. A full fill goes into the emptied file with MDB_APPEND, kind by kind
(A < D < E < M < X, each domain in order): every page is written full, once.

A transaction's dirty pages are malloc'd and, after the commit, kept by LMDB for reuse for the
life of the environment: PUTS_PER_TXN bounds that (appended, 10,000 puts dirty ~3 MB of pages;
random puts would dirty a page each).
"""
from __future__ import annotations

import time

from app.replica import store
from app.state import keys

SCAN_COUNT = 2000
GET_COUNT = 2000
PUTS_PER_TXN = 10000


def _in_order(names: list, size: int):
    """`names` sorted, each once (SCAN may return a name twice while Redis rehashes), in
    lists of at most `size`."""
    names.sort()
    names[:] = [n for i, n in enumerate(names) if not i or n != names[i - 1]]
    for i in range(0, len(names), size):
        yield names[i:i + size]


def hash_in_order(client, key: str, prefix: bytes):
    """Lists of (prefix + field, value) of hash `key`, in field order; each value read after
    the scan began (a field deleted since the scan saw it is left out)."""
    names = [f for f, _ in client.hscan_iter(key, count=SCAN_COUNT)]
    for chunk in _in_order(names, GET_COUNT):
        yield [(prefix + f, v) for f, v in zip(chunk, client.hmget(key, chunk)) if v is not None]


def set_in_order(client, key: str, prefix: bytes):
    """Lists of (prefix + member, b"") of set `key`, in member order."""
    for chunk in _in_order(list(client.sscan_iter(key, count=SCAN_COUNT)), GET_COUNT):
        yield [(prefix + m, b"") for m in chunk]


def _put(env, chunks, append: bool = False) -> int:
    """Write lists of (key, value) pairs, in transactions of about PUTS_PER_TXN; returns how
    many. With `append`, the keys must ascend and follow every key the file holds (MDB_APPEND)."""
    n = 0
    batch: list = []
    for chunk in chunks:
        batch += chunk
        if len(batch) >= PUTS_PER_TXN:
            n += _commit(env, batch, append)
            batch = []
    return n + (_commit(env, batch, append) if batch else 0)


def _commit(env, batch: list, append: bool) -> int:
    with env.begin(write=True) as txn:
        _, added = txn.cursor().putmulti(batch, append=append)
        if append and added != len(batch):  # LMDB refuses, silently, a key out of order
            raise ValueError("replica fill: appended keys out of order")
    return len(batch)


def _extens(client, domain: bytes):
    return hash_in_order(client, keys.exten(domain.decode()), store.kind_prefix(store.EXTEN, domain))


def _aliases(client, domain: bytes):
    return hash_in_order(client, keys.alias(domain.decode()), store.kind_prefix(store.ALIAS, domain))


def _disabled(client, domain: bytes):
    return set_in_order(client, keys.disabled(domain.decode()), store.kind_prefix(store.DISABLED, domain))


def fill_domain(client, env, domain: bytes) -> int:
    """Replace what the file holds of `domain`'s extensions, aliases and disabled names by
    what Redis holds now (scanned: each value is read after the scan began). Returns the count
    of extensions."""
    with env.begin(write=True) as txn:
        store.drop_domain(txn, domain, entry_too=False)
    count = _put(env, _extens(client, domain))
    _put(env, _aliases(client, domain))
    _put(env, _disabled(client, domain))
    return count


def fill_all(client, env, host: str, epoch: bytes, applied: int) -> tuple[int, float]:
    """Empty the file and fill it with every domain Redis holds, appended in key order.
    Returns (extensions, seconds). Until the meta keys are written the file has no `Mtrust`,
    which readers take as not trusted, as they do the 0 written with them."""
    t0 = time.monotonic()
    with env.begin(write=True) as txn:
        txn.drop(env.open_db(), delete=False)
    entries = sorted(client.hgetall(keys.domains()).items())
    domains = [d for d, _ in entries]
    # kinds in key order: A < D < E < M (meta) < X; Mfilled, known last, is an ordinary put
    meta = sorted([(store.TRUST, store.trust_value(0.0)), (store.FORMAT_KEY, store.FORMAT),
                   (store.HOST, host.encode()), (store.EPOCH, epoch),
                   (store.APPLIED, str(applied).encode())])
    for d in domains:
        _put(env, _aliases(client, d), append=True)
    _put(env, [[(store.domain_key(d), v) for d, v in entries]], append=True)
    total = sum(_put(env, _extens(client, d), append=True) for d in domains)
    _put(env, [meta], append=True)
    for d in domains:
        _put(env, _disabled(client, d), append=True)
    seconds = time.monotonic() - t0
    with env.begin(write=True) as txn:
        txn.put(store.FILLED, f"{seconds:.3f}".encode())
    return total, seconds
