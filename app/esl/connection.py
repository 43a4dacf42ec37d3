"""A command connection to one FreeSWITCH node over python-ESL, with bounded time everywhere.

    with EslClient(node, timeout=5) as fs:
        fs.api(commands.show_calls())                  # -> body text
        job = fs.bgapi(commands.originate_eavesdrop(...), job_uuid)
        fs.sendevent(commands.eavesdrop_command(sup_uuid, "2"))

- Connect and auth are bounded (app/esl/connect.py). Every command is bounded by the
  process watchdog (app/esl/watchdog.py), which shuts the socket down when the reply is late.
- Two failures: `EslUnavailable` (retryable: refused, timeout, auth, disconnected; the
  connection is closed and must be replaced) and `EslCommandError` (FreeSWITCH answered
  `-ERR ...`: permanent; the connection stays usable).
- Only `ApiCommand`/`SocketCommand` values built by app/esl/commands.py (and the modules it
  re-exports) are accepted.
- Commands only: events go over their own connection (facts §3.8), see app/esl/stream.py.
  Not thread-safe: one thread at a time (app/esl/pool.py hands out connections).
"""
from __future__ import annotations

import select
import socket
import time

from app.esl.command_types import ApiCommand, InvalidArgument, SocketCommand
from app.esl.connect import open_esl
from app.esl.errors import EslAuthFailed, EslCommandError, EslError, EslUnavailable
from app.esl.watchdog import watchdog
from app.names import is_uuid

__all__ = ["EslClient", "EslError", "EslUnavailable", "EslAuthFailed", "EslCommandError"]

_ERROR_PREFIXES = ("-ERR", "-USAGE")


class EslClient:
    """One authenticated command connection to `node` (an app.config.FreeSwitchNode)."""

    def __init__(self, node, timeout: float = 5.0):
        self.node = node
        self.timeout = float(timeout)
        self._con, self._sock = open_esl(node, self.timeout)
        self.opened_at = self.used_at = time.monotonic()

    # -- commands --------------------------------------------------------------------------
    def api(self, cmd: ApiCommand) -> str:
        """Run `api <cmd>`; return FreeSWITCH's output, or raise EslCommandError on `-ERR`."""
        _require(cmd, ApiCommand)
        event = self._send_recv(f"api {cmd}")
        body = event.getBody() or ""
        if body.startswith(_ERROR_PREFIXES):
            raise EslCommandError(cmd, body)
        return body

    def bgapi(self, cmd: ApiCommand, job_uuid: str | None = None) -> str:
        """Run `bgapi <cmd>` (with our Job-UUID if given); return the job's uuid.

        The result arrives later as a BACKGROUND_JOB event on event connections.
        """
        _require(cmd, ApiCommand)
        packet = f"bgapi {cmd}"
        if job_uuid is not None:
            if not is_uuid(job_uuid):
                raise InvalidArgument("job_uuid", "must be a lowercase uuid", job_uuid)
            packet += f"\nJob-UUID: {job_uuid}"
        event = self._send_recv(packet)
        reply = event.getHeader("Reply-Text") or ""
        if not reply.startswith("+OK"):
            raise EslCommandError(cmd, reply)
        return event.getHeader("Job-UUID") or reply.rpartition(" ")[2]

    def sendevent(self, cmd: SocketCommand) -> str:
        """Send a `sendevent` packet; return the reply text (`+OK <uuid>`)."""
        _require(cmd, SocketCommand)
        if not cmd.startswith("sendevent "):
            raise TypeError("sendevent() takes a packet from commands.eavesdrop_command()")
        return self.command(cmd)

    def command(self, cmd: SocketCommand) -> str:
        """Send any other event-socket packet (`event ...`, `filter ...`); return Reply-Text."""
        _require(cmd, SocketCommand)
        event = self._send_recv(cmd)
        reply = event.getHeader("Reply-Text") or ""
        if reply.startswith(_ERROR_PREFIXES):
            raise EslCommandError(cmd, reply)
        return reply

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        """Connected, and nothing (EOF, a disconnect notice) waiting unread on the socket."""
        if self._con is None or not self._con.connected():
            return False
        poller = select.poll()
        poller.register(self._sock, select.POLLIN | select.POLLERR | select.POLLHUP)
        return not poller.poll(0)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        con, sock = self._con, self._sock
        self._con = self._sock = None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if con is not None:
            con.disconnect()

    def __enter__(self) -> "EslClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._con is not None else "closed"
        return f"<EslClient {self.node.name} {state}>"

    # -- internals -------------------------------------------------------------------------
    def _send_recv(self, packet: str):
        if self._con is None:
            raise EslUnavailable(f"{self.node.name}: connection is closed")
        with watchdog().guard(self._sock, self.timeout) as guard:
            event = self._con.sendRecv(packet)
        self.used_at = time.monotonic()
        if guard.fired:
            self.close()
            raise EslUnavailable(f"{self.node.name}: no reply within {self.timeout:g}s")
        if event is None or not self._con.connected():
            self.close()
            raise EslUnavailable(f"{self.node.name}: connection lost")
        if (event.getHeader("Content-Type") or "") == "text/disconnect-notice":
            self.close()
            raise EslUnavailable(f"{self.node.name}: FreeSWITCH disconnected: {event.getBody()!r}")
        return event


def _require(cmd, kind) -> None:
    if type(cmd) is not kind:
        raise TypeError(f"expected {kind.__name__} from app.esl.commands, got {type(cmd).__name__}")
