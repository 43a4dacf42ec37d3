"""/directory's read side of the per-host replica (app/replica; docs/freeswitch.md §7.1).

`ReplicaReader.lookup` answers exactly what the lookup script (lua/lookup.lua) answers from
Redis, from this host's LMDB file, or None when the file must not be trusted: missing, not
yet filled, or its lease (`Mtrust`, read in the same read transaction as the data) has run
out. The caller then asks Redis, exactly as without a replica. The environment is opened once
per process (after gunicorn's fork: LMDB handles must not cross a fork) and read without a
system call once its pages are in the page cache.
"""
from __future__ import annotations

import os
import time

import lmdb

from app.replica import store

UNKNOWN_DOMAIN, DOMAIN_ONLY, FOUND, DISABLED, NOT_MIRRORED = 0, 1, 2, 3, 4
RETRY_OPEN = 1.0  # s between attempts to open a file that is not there yet
_monotonic = time.monotonic
_TRUST = store.TRUST
_BOOT = store.BOOT


class ReplicaReader:
    """The replica file of this host, as one process reads it."""

    def __init__(self, path: str, env: lmdb.Environment | None = None):
        """`env`: an environment this process already has open on `path` (LMDB allows one per
        process: the tests read through the replica process's own)."""
        self.path = path
        self._env = env
        self._pid = os.getpid() if env is not None else -1
        self._retry_at = 0.0

    def _open(self) -> lmdb.Environment | None:
        if self._pid != os.getpid():  # a fork: the parent's handle is not ours
            self._env, self._pid, self._retry_at = None, os.getpid(), 0.0
        if self._env is None:
            now = _monotonic()
            if now < self._retry_at:
                return None
            try:
                self._env = store.open_reader(self.path)
            except lmdb.Error:
                self._retry_at = now + RETRY_OPEN
                return None
        return self._env

    def lookup(self, domain: str, user: str, mode: str):
        """The lookup script's reply for (domain, user, mode) from the file, or None."""
        env = self._env if self._pid == os.getpid() else None
        if env is None:
            env = self._open()
            if env is None:
                return None
        try:
            txn = store.begin(env)
        except lmdb.Error:
            self._env = None
            return None
        try:
            trust = txn.get(_TRUST)
            if trust is None or trust[8:] != _BOOT or store._double.unpack_from(trust)[0] <= _monotonic():
                return None
            return _lookup(txn, domain.encode(), user.encode(), mode)
        except lmdb.Error:
            return None
        finally:
            txn.abort()


def _lookup(txn, d: bytes, name: bytes, mode: str):
    """lua/lookup.lua over the file (the same steps, the same replies, as str)."""
    get = txn.get
    dom = get(b"D" + d)
    if dom is None:
        return (UNKNOWN_DOMAIN,)
    if not name:
        return (DOMAIN_ONLY, dom.decode())
    base = d + b"\0"
    by_id = mode != "alias"
    u = get(b"E" + base + name) if by_id else None
    if u is None:
        low = name.lower()  # bytes.lower folds ASCII only, as Lua's string.lower does
        n = get(b"A" + base + low)
        if n is not None:
            u = get(b"E" + base + n)
            if u is not None:
                name = n
        elif low != name and by_id:
            u = get(b"E" + base + low)
            if u is not None:
                name = low
    if u is not None:
        return (FOUND, dom.decode(), name.decode(), u.decode())
    if by_id and get(b"X" + base + name) is not None:
        return (DISABLED, dom.decode())
    return (NOT_MIRRORED, dom.decode())
