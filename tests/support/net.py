"""Loopback ports for tests and benchmarks that nobody else can take meanwhile.

Binding port 0, closing the socket and using the number later is a race on a shared machine:
another process may bind that port (or get it as the source port of a connection) in between,
and a "dead" endpoint may then answer. Here a port is *held* instead: a socket bound with
SO_REUSEADDR that never listens. Linux then
- refuses every connection to it (nothing listens): a dead endpoint that stays dead;
- never hands it to anyone's bind(0) or connect() while it is held;
- still lets a server that sets SO_REUSEADDR itself (EslPeer, redis-server, gunicorn) bind and
  listen on that very port while it is held: a hand-over with no window.
"""
from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def bound_socket(host: str = LOOPBACK, port: int = 0) -> socket.socket:
    """A TCP socket bound (SO_REUSEADDR and SO_REUSEPORT) to host:port, not listening yet."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # SO_REUSEPORT (same user only) lets a holder bind beside a live listener of ours, so a
        # server that stops can keep its port with no gap (EslPeer.stop/restart).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class HeldPort:
    """A loopback port held by a bound, never-listening socket (see the module docstring).

        with HeldPort() as dead:        # connections to dead.port are refused
            ...
        with HeldPort() as spot:        # reserved now, served later on the same port
            EslPeer(port=spot.port).start()
    """

    def __init__(self, host: str = LOOPBACK, port: int = 0):
        self._sock: socket.socket | None = bound_socket(host, port)
        self.host, self.port = self._sock.getsockname()[:2]

    @property
    def held(self) -> bool:
        return self._sock is not None

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def url(self, scheme: str = "redis", path: str = "/0") -> str:
        """e.g. redis://127.0.0.1:<port>/0: a URL nothing answers on."""
        return f"{scheme}://{self.host}:{self.port}{path}"

    def release(self) -> None:
        """Let the port go (idempotent)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> "HeldPort":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def listening_socket(host: str = LOOPBACK, backlog: int = 128) -> socket.socket:
    """A socket listening on an ephemeral port: to hand to a server process (gunicorn's
    fd://), or, never accepted, an endpoint that takes connections and stays silent."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock
