"""A per-process cache of idle command connections, per FreeSWITCH node.

Opening a connection costs a probe, a TCP handshake and an auth round trip; supervisor
actions need the command on the wire within milliseconds, so connections are reused.
An idle connection is checked before reuse (closed by FreeSWITCH, a restart's disconnect
notice, too old) without sending anything; a connection that failed mid-command is never
returned. No command is retried here: a caller that gets EslUnavailable retries the whole
action (Celery's autoretry), because a command may have run before the connection broke.

    from app.esl.pool import esl_pool
    with esl_pool().connection(node) as fs:
        fs.api(commands.show_calls())
"""
from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

from app.esl.command_types import InvalidArgument
from app.esl.connection import EslClient
from app.esl.errors import EslCommandError


class EslPool:
    """Idle EslClient connections keyed by node; safe to share between threads."""

    def __init__(self, max_idle: int = 4, max_idle_age: float = 60.0, timeout: float = 5.0):
        self.max_idle = max_idle
        self.max_idle_age = max_idle_age
        self.timeout = timeout
        self._idle: dict[tuple, list[EslClient]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(node) -> tuple:
        return (node.name, node.host, int(node.port), node.password)

    def acquire(self, node, timeout: float | None = None) -> EslClient:
        """An idle healthy connection to `node`, or a new one (may raise EslUnavailable)."""
        key = self._key(node)
        while True:
            with self._lock:
                idle = self._idle.get(key)
                client = idle.pop() if idle else None
            if client is None:
                return EslClient(node, self.timeout if timeout is None else timeout)
            if client.usable and time.monotonic() - client.used_at < self.max_idle_age:
                if timeout is not None:
                    client.timeout = float(timeout)
                return client
            client.close()

    def release(self, client: EslClient) -> None:
        """Give a connection back; broken or surplus ones are closed."""
        if not client.usable:
            client.close()
            return
        client.timeout = self.timeout
        with self._lock:
            idle = self._idle.setdefault(self._key(client.node), [])
            if len(idle) < self.max_idle:
                idle.append(client)
                return
        client.close()

    @contextmanager
    def connection(self, node, timeout: float | None = None):
        """`with pool.connection(node) as fs:` an EslClient, returned to the pool afterwards."""
        client = self.acquire(node, timeout)
        try:
            yield client
        except (EslCommandError, InvalidArgument):
            self.release(client)           # FreeSWITCH answered: the connection is fine
            raise
        except BaseException:
            client.close()                 # unknown state (timeout, interrupted): never reuse
            raise
        else:
            self.release(client)

    def api(self, node, cmd, timeout: float | None = None) -> str:
        """`api <cmd>` on a pooled connection."""
        with self.connection(node, timeout) as fs:
            return fs.api(cmd)

    def bgapi(self, node, cmd, job_uuid: str | None = None, timeout: float | None = None) -> str:
        """`bgapi <cmd>` on a pooled connection; returns the Job-UUID."""
        with self.connection(node, timeout) as fs:
            return fs.bgapi(cmd, job_uuid)

    def sendevent(self, node, cmd, timeout: float | None = None) -> str:
        """A `sendevent` packet on a pooled connection."""
        with self.connection(node, timeout) as fs:
            return fs.sendevent(cmd)

    def close_all(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for clients in idle.values():
            for client in clients:
                client.close()


_pool: EslPool | None = None
_pool_lock = threading.Lock()


def esl_pool() -> EslPool:
    """This process's pool (timeout from FSCTI_ESL_TIMEOUT when an app is active)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = EslPool(timeout=_configured_timeout())
        return _pool


def _configured_timeout() -> float:
    try:
        from flask import current_app

        return float(current_app.config["FSCTI"].esl_connect_timeout)
    except (RuntimeError, KeyError, AttributeError):
        return 5.0


_inherited: list = []


def _after_fork() -> None:
    # A forked child (a prefork Celery worker) must not use the parent's sockets. The parent's
    # pool is kept referenced, never closed or collected: closing would shut the parent's
    # connections down, and ESL's destructor could block on a mutex a parent thread held.
    global _pool, _pool_lock
    if _pool is not None:
        _inherited.append(_pool)
    _pool = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)
