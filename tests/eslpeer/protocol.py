"""The peer's side of the protocol: reading client packets and answering each command
the way mod_event_socket does (facts §3.2-§3.4)."""
from __future__ import annotations

import threading
import uuid as uuidlib

from tests.eslpeer import wire
from tests.eslpeer.connection import PeerConnection


class CommandHandlers:
    """Mixed into EslPeer: `_serve` runs per connection, `_cmd_<word>` answers a command."""

    def _serve(self, conn: PeerConnection) -> None:
        if self.greet:
            conn.send_reply(b"Content-Type: auth/request\n\n")
        reader = wire.PacketReader(conn.id)
        while not conn.closed:
            try:
                data = conn.sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            conn.raw_in += data
            for pkt in reader.feed(data):
                conn.packets.append(pkt)
                if self.greet:
                    self._handle(conn, pkt)
        conn.close()

    def _handle(self, conn: PeerConnection, pkt: wire.Packet) -> None:
        cmd = pkt.command.split("\r")[0]
        word = cmd.split(" ", 1)[0].lower()
        if word in self.ignore:
            return
        if word == "exit" or cmd.startswith("..."):
            conn.send_reply(wire.command_reply("+OK bye"))
            conn.send_reply(wire.disconnect_notice(), then_close=True)
            return
        if not conn.authed:
            if word == "auth":
                if cmd[5:] == self.password:
                    conn.authed = True
                    conn.send_reply(wire.command_reply("+OK accepted"))
                else:
                    conn.send_reply(wire.command_reply("-ERR invalid"))
                    conn.send_reply(wire.disconnect_notice(), then_close=True)
            else:
                conn.send_reply(wire.command_reply("-ERR command not found"))
            return
        handler = getattr(self, f"_cmd_{word}", None)
        if handler is None:
            conn.send_reply(wire.command_reply("-ERR command not found"))
        else:
            handler(conn, cmd, pkt)

    # -- commands ------------------------------------------------------------------------
    def _cmd_api(self, conn, cmd, pkt):
        conn.send_reply(wire.api_response(self.api.run(cmd[4:].strip())))

    def _cmd_bgapi(self, conn, cmd, pkt):
        job = pkt.headers.get("Job-UUID") or str(uuidlib.uuid4())
        line = cmd[6:].strip()
        conn.send_reply(wire.command_reply(f"+OK Job-UUID: {job}", {"Job-UUID": job}))
        output = self.api.run(line)
        name, _, arg = line.partition(" ")
        event = self.stamp({"Event-Name": "BACKGROUND_JOB", **self._identity(),
                            "Event-Calling-File": "mod_event_socket.c",
                            "Event-Calling-Function": "api_exec",
                            "Event-Calling-Line-Number": "1580"})
        event["Job-UUID"] = job
        event["Job-Command"] = name
        if arg:
            event["Job-Command-Arg"] = arg
        event["Content-Length"] = str(len(output.encode()))
        event["_body"] = output
        threading.Thread(target=self.emit, args=(event,), kwargs={"stamp": False},
                         daemon=True).start()

    def _cmd_event(self, conn, cmd, pkt):
        words = cmd.split()[1:]
        fmt = "plain"
        if words and words[0].lower() in ("plain", "json", "xml"):
            fmt = words.pop(0).lower()
        keys, custom = 0, False
        for w in words:
            if custom:
                conn.custom.add(w)
            elif w == "ALL":
                conn.all_events = True
                keys += 1
            else:
                conn.events.add(w)
                keys += 1
                custom = w == "CUSTOM"
        if not keys:
            conn.send_reply(wire.command_reply("-ERR no keywords supplied"))
            return
        conn.format = fmt
        conn.send_reply(wire.command_reply(f"+OK event listener enabled {fmt}"))

    def _cmd_nixevent(self, conn, cmd, pkt):
        custom = False
        for w in cmd.split()[1:]:
            if custom:
                conn.custom.discard(w)
            elif w == "CUSTOM":
                custom = True
            elif w == "ALL":
                conn.all_events = False
                conn.events.clear()
            else:
                conn.events.discard(w)
        conn.send_reply(wire.command_reply("+OK events nixed"))

    def _cmd_noevents(self, conn, cmd, pkt):
        conn.all_events = False
        conn.events.clear()
        conn.custom.clear()
        with conn.cond:
            conn.queue.clear()
        conn.send_reply(wire.command_reply("+OK no longer listening for events"))

    def _cmd_filter(self, conn, cmd, pkt):
        words = cmd.split(" ")[1:]
        if words and words[0] == "add":
            words = words[1:]
        if words and words[0] == "delete":
            rest = words[1:]
            if rest == ["all"]:
                conn.filters.clear()
            else:
                conn.filters = [f for f in conn.filters
                                if not (f[0] == rest[0] and (len(rest) < 2 or f[1] == rest[1]))]
            conn.send_reply(wire.command_reply("+OK filter deleted."))
            return
        if len(words) < 2:
            conn.send_reply(wire.command_reply("-ERR invalid syntax"))
            return
        header, value = words[0], " ".join(words[1:])
        conn.filters.append((header, value))
        conn.send_reply(wire.command_reply(f"+OK filter added. [{header}]=[{value}]"))

    def _cmd_sendevent(self, conn, cmd, pkt):
        self.sendevents.append(pkt)
        conn.send_reply(wire.command_reply(f"+OK {uuidlib.uuid4()}"))

    def _cmd_log(self, conn, cmd, pkt):
        conn.send_reply(wire.command_reply("+OK log level set"))

    def _cmd_nolog(self, conn, cmd, pkt):
        conn.send_reply(wire.command_reply("+OK no longer logging"))

    def _cmd_linger(self, conn, cmd, pkt):
        conn.send_reply(wire.command_reply("-ERR not controlling a session"))
