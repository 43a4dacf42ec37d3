"""The replica file's format: an LMDB environment (a directory holding data.mdb and lock.mdb).

One unnamed database; keys are bytes, a kind letter then the Redis names:
  D<domain>               -> the domain entry's JSON   (HGET fscti:domains <domain>)
  E<domain>\\0<name>       -> the extension's JSON      (HGET cti_exten@<domain> <name>)
  A<domain>\\0<field>      -> the extension's name      (HGET fscti:alias@<domain> <field>)
  X<domain>\\0<name>       -> b""                       (SISMEMBER fscti:disabled@<domain> <name>)
  M<name>                 -> meta (below)
Meta: `Mtrust` is the lease: 8 bytes (a double, CLOCK_MONOTONIC seconds) until which readers
may trust the file, then this boot's id (/proc/sys/kernel/random/boot_id: after a reboot the
monotonic clock starts again, so an old expiry must not count). `Mapplied` is the feed number
applied (ASCII), `Mepoch` the Redis epoch token it was filled under, `Mformat` FORMAT,
`Mhost` the host name, `Mfilled` the seconds the last full fill took.
"""
from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import lmdb

FORMAT = b"fscti-replica-1"
TRUST, APPLIED, EPOCH, FORMAT_KEY, HOST, FILLED = (b"Mtrust", b"Mapplied", b"Mepoch", b"Mformat",
                                                    b"Mhost", b"Mfilled")
DEFAULT_MAP_SIZE = 8 << 30  # address space only: the file grows with what it holds
_double = struct.Struct("d")


def boot_id() -> bytes:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_bytes().strip()
    except OSError:  # not Linux: the monotonic clock is then trusted across restarts of the file
        return b"-"


BOOT = boot_id()


def domain_key(domain: bytes) -> bytes:
    return b"D" + domain


EXTEN, ALIAS, DISABLED = b"E", b"A", b"X"


def kind_prefix(kind: bytes, domain: bytes) -> bytes:
    """What every key of one kind (EXTEN, ALIAS, DISABLED) of `domain` starts with."""
    return kind + domain + b"\0"


def exten_key(domain: bytes, name: bytes) -> bytes:
    return b"E" + domain + b"\0" + name


def alias_key(domain: bytes, field: bytes) -> bytes:
    return b"A" + domain + b"\0" + field


def disabled_key(domain: bytes, name: bytes) -> bytes:
    return b"X" + domain + b"\0" + name


def trust_value(until: float) -> bytes:
    """The `Mtrust` value: trusted until `until` (time.monotonic()) on this boot."""
    return _double.pack(until) + BOOT


def trusted(value: bytes | None, now: float | None = None) -> bool:
    """Whether an `Mtrust` value still lets a reader trust the file."""
    if value is None or value[8:] != BOOT:
        return False
    return _double.unpack_from(value)[0] > (time.monotonic() if now is None else now)


def open_writer(path: str, map_size: int = DEFAULT_MAP_SIZE) -> lmdb.Environment:
    """The replica process's environment. No fsync: the file is refilled or caught up from
    Redis at every start, and its trust expires with the process that renewed it."""
    os.makedirs(path, exist_ok=True)
    return lmdb.open(path, map_size=map_size, subdir=True, sync=False, metasync=False,
                     max_readers=1024, max_dbs=0)


def open_reader(path: str) -> lmdb.Environment:
    """A web worker's read-only environment (one per process, opened after fork). The lock
    file's reader table is used (lock=True): it is what stops the writer from reusing pages a
    reader still sees. The map is as large as the writer's (address space only): with LMDB's
    default a reader could not see a file grown past 10 MB (MDB_MAP_RESIZED)."""
    return lmdb.open(path, readonly=True, create=False, subdir=True, lock=True, max_readers=1024,
                     max_dbs=0, map_size=DEFAULT_MAP_SIZE)


def begin(env: lmdb.Environment):
    """A read transaction; a file grown past this process's map makes the map follow it."""
    try:
        return env.begin(buffers=False)
    except lmdb.MapResizedError:
        env.set_mapsize(0)  # 0: adopt the size the writer recorded
        return env.begin(buffers=False)


def meta(env: lmdb.Environment) -> dict:
    """The file's meta values (for operators and tests)."""
    with begin(env) as txn:
        raw = {k: txn.get(k) for k in (TRUST, APPLIED, EPOCH, FORMAT_KEY, HOST, FILLED)}
    trust = raw[TRUST]
    return {"format": raw[FORMAT_KEY], "host": raw[HOST], "epoch": raw[EPOCH],
            "applied": int(raw[APPLIED]) if raw[APPLIED] else None,
            "trusted_until": _double.unpack_from(trust)[0] if trust else None,
            "boot": trust[8:] if trust else None, "trusted": trusted(trust),
            "fill_seconds": float(raw[FILLED]) if raw[FILLED] else None}


def drop_prefix(txn, cursor, prefix: bytes) -> int:
    """Delete every key starting with `prefix`; returns how many."""
    n = 0
    if cursor.set_range(prefix):
        while cursor.key().startswith(prefix):
            n += 1
            if not cursor.delete():
                break
    return n


def drop_domain(txn, domain: bytes, entry_too: bool) -> None:
    """Delete what the file holds of one domain (its entry too when `entry_too`)."""
    cur = txn.cursor()
    for kind in (EXTEN, ALIAS, DISABLED):
        drop_prefix(txn, cur, kind_prefix(kind, domain))
    if entry_too:
        txn.delete(domain_key(domain))
