"""Open an authenticated python-ESL connection in bounded time: probe, construct in a thread
that is rescued if the server goes silent, then tell a refused password from a dropped
connection (docs/listener.md, "Bounded connect, auth and reads"). The caller gets the ESL
handle plus a duplicate of its socket for the watchdog and polling.
"""
from __future__ import annotations

import os
import socket
import threading
import time

import ESL

from app.esl.errors import EslAuthFailed, EslUnavailable

_locks: dict[tuple[str, int], threading.Lock] = {}
_locks_guard = threading.Lock()


def _after_fork() -> None:
    # A lock held by a connecting thread of the parent would never be released in the child.
    global _locks, _locks_guard
    _locks, _locks_guard = {}, threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def open_esl(node, timeout: float) -> tuple["ESL.ESLconnection", socket.socket]:
    """Connect and authenticate to `node` within `timeout` seconds, or raise EslUnavailable."""
    if any(c in node.password for c in "\r\n\x00"):
        raise EslAuthFailed(f"{node.name}: the configured password contains a line break or NUL")
    deadline = time.monotonic() + timeout
    lock = _lock_for(node)
    if not lock.acquire(timeout=max(_remaining(deadline), 0.001)):
        raise EslUnavailable(f"{node.name}: another connection attempt is still hanging")
    try:
        _probe(node, timeout, send_auth=False)
        con = _construct(node, deadline)
    finally:
        lock.release()
    if not con.connected():
        con.disconnect()
        _probe(node, max(_remaining(deadline), 1.0), send_auth=True)
        raise EslUnavailable(f"{node.name}: FreeSWITCH closed the connection during authentication")
    fd = con.socketDescriptor()
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError as exc:
        con.disconnect()
        raise EslUnavailable(f"{node.name}: connection lost right after authentication") from exc
    return con, sock


def _remaining(deadline: float) -> float:
    return deadline - time.monotonic()


def _lock_for(node) -> threading.Lock:
    key = (node.host, int(node.port))
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _construct(node, deadline: float) -> "ESL.ESLconnection":
    box: dict = {}
    before = set(_sockets().values())

    def build():
        box["con"] = ESL.ESLconnection(node.host, str(node.port), node.password)

    t = threading.Thread(target=build, name=f"esl-connect-{node.name}", daemon=True)
    t.start()
    t.join(max(_remaining(deadline), 0.001))
    if t.is_alive():
        _rescue(before, node)
        t.join(3.0)
        con = box.get("con")
        if con is not None:
            con.disconnect()
        raise EslUnavailable(f"{node.name}: no answer to auth within the timeout")
    return box["con"]


def _sockets() -> dict[int, str]:
    """fd -> "socket:[inode]" for this process's sockets (inodes, unlike fd numbers, are
    never reused while a socket lives, so other threads closing and opening fds can't fool us)."""
    found = {}
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for fd in fds:
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:"):
            found[int(fd)] = link
    return found


def _peer_addresses(node) -> set[tuple[str, int]]:
    try:
        infos = socket.getaddrinfo(node.host, int(node.port), type=socket.SOCK_STREAM)
    except OSError:
        return set()
    return {(info[4][0], info[4][1]) for info in infos}


def _rescue(before: set[str], node) -> None:
    """Shut down sockets created since `before` that are connected to `node` (unblocks ESL)."""
    targets = _peer_addresses(node)
    for fd, link in _sockets().items():
        if link in before:
            continue
        try:
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if s.type == socket.SOCK_STREAM and s.getpeername()[:2] in targets:
                s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            s.close()


def _probe(node, timeout: float, send_auth: bool) -> None:
    """Check the greeting (and optionally the password) on a throwaway socket."""
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((node.host, int(node.port)), timeout=timeout)
    except socket.timeout as exc:
        raise EslUnavailable(f"{node.name}: connect to {node.host}:{node.port} timed out") from exc
    except OSError as exc:
        raise EslUnavailable(f"{node.name}: cannot connect to {node.host}:{node.port}: "
                             f"{exc.strerror or exc}") from exc
    try:
        greeting = _read_frame(sock, deadline, node.name)
        if b"text/rude-rejection" in greeting:
            raise EslUnavailable(f"{node.name}: refused by FreeSWITCH's inbound ACL")
        if b"Content-Type: auth/request" not in greeting:
            raise EslUnavailable(f"{node.name}: no event-socket greeting (auth/request)")
        if send_auth:
            sock.sendall(f"auth {node.password}\n\n".encode())
            reply = _read_frame(sock, deadline, node.name)
            if b"-ERR invalid" in reply:
                raise EslAuthFailed(f"{node.name}: FreeSWITCH refused the event-socket password")
    finally:
        sock.close()


def _read_frame(sock: socket.socket, deadline: float, name: str) -> bytes:
    data = b""
    while b"\n\n" not in data:
        left = _remaining(deadline)
        if left <= 0:
            raise EslUnavailable(f"{name}: the event socket stayed silent")
        sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except socket.timeout as exc:
            raise EslUnavailable(f"{name}: the event socket stayed silent") from exc
        except OSError as exc:
            raise EslUnavailable(f"{name}: the event socket failed: {exc.strerror or exc}") from exc
        if not chunk:
            raise EslUnavailable(f"{name}: the event socket closed the connection")
        data += chunk
    return data
