"""The peer's answers to `api`/`bgapi` commands: test overrides, FreeSWITCH-like built-ins,
then the captured outputs of api_outputs.txt, then FreeSWITCH's "Command not found"."""
from __future__ import annotations

import re
import time
import uuid as uuidlib

from tests.eslpeer.fixtures import default_api_table

_ORIGINATION_UUID = re.compile(r"origination_uuid=([0-9a-f-]{36})")


class ApiTable:
    """Lookup order: `set()` exact lines, `on()` command words, built-ins, captured outputs."""

    def __init__(self, peer, overrides: dict | None = None):
        self.peer = peer
        self.exact: dict = dict(overrides or {})
        self.words: dict = {}
        self.defaults = default_api_table()
        self.calls: list[str] = []
        self.variables: dict = {}     # (uuid, name) -> value, for uuid_getvar

    def set(self, command: str, response) -> None:
        """Answer this exact command line with `response` (text, or a callable(args) -> text)."""
        self.exact[command] = response

    def on(self, word: str, handler) -> None:
        """Answer every command whose first word is `word` with `handler(args) -> text`."""
        self.words[word] = handler

    def run(self, line: str) -> str:
        """FreeSWITCH's output for one API command line."""
        line = line.strip()
        self.calls.append(line)
        word, _, args = line.partition(" ")
        args = args.strip()
        if line in self.exact:
            answer = self.exact[line]
            return answer(args) if callable(answer) else answer
        if word in self.words:
            return self.words[word](args)
        builtin = getattr(self, f"_builtin_{word}", None)
        if builtin is not None:
            answer = builtin(args)
            if answer is not None:
                return answer
        if line in self.defaults:
            return self.defaults[line]
        return f"-ERR {word} Command not found!\n"

    # FreeSWITCH behaviour for the commands fscti sends (facts §2.5, §5).
    def _builtin_xml_flush_cache(self, args):
        return "+OK cleared 1 entry\n"

    def _builtin_uuid_kill(self, args):
        target = args.split(" ")[0]
        if target in self.peer.channels:
            self.peer.channels.discard(target)
            return "+OK\n"
        return "-ERR No such channel!\n"

    def _builtin_uuid_exists(self, args):
        return "true" if args in self.peer.channels else "false"

    def _builtin_uuid_getvar(self, args):
        uuid, _, name = args.partition(" ")
        if uuid not in self.peer.channels:
            return "-ERR No such channel!\n"
        name = name.strip()
        if (uuid, name) in self.variables:
            return self.variables[(uuid, name)]
        return self.peer.channel_vars.get(uuid, {}).get(name, "_undef_")

    def _builtin_strmicroepoch(self, args):
        return None if args else str(int(time.time() * 1_000_000))

    def _builtin_global_getvar(self, args):
        return self.peer.core_uuid if args == "core_uuid" else None

    def _builtin_originate(self, args):
        m = _ORIGINATION_UUID.search(args)
        return f"+OK {m.group(1) if m else uuidlib.uuid4()}\n"
