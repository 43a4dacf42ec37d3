"""The captured traffic of a phone that uses its extension's number-alias as its SIP user.

An extension `1011` with `number-alias` `5011` whose phone registers as `5011`: the directory
finds the user by its alias and FreeSWITCH accepts it, but every header of its events names
the alias only (`from-user`, `to-user`, `username`, `user_name`, `number_alias`,
`sip_auth_username`, the contact, `Channel-Name`, `variable_dialed_user` when it is called as
`user/5011`, ...), and `sofia xmlstatus ... reg` lists it as `5011@<domain>`.

`renamed(event, {"1001": "5011"})` is the captured event with every whole occurrence of a
captured user name in a header value replaced: the same headers, in the same order, with the
same times (a uuid's 4-digit groups and digits inside longer numbers are left alone). The peer
emits such events with `EslPeer.replay(..., rename=...)`.
"""
from __future__ import annotations

import re
from functools import lru_cache

from tests.eslpeer.fixtures import WireEvent, api_outputs

# Headers that hold numbers which may happen to equal a user name.
_KEEP = frozenset({"Event-Sequence", "Event-Calling-Line-Number", "Core-UUID", "Unique-ID"})


@lru_cache(maxsize=32)
def _pattern(names: tuple) -> re.Pattern:
    alt = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![0-9A-Za-z-])(?:{alt})(?![0-9A-Za-z-])")


def rename_text(text: str, names: dict) -> str:
    """`text` with every whole occurrence of a key of `names` replaced by its value."""
    if not names:
        return text
    return _pattern(tuple(names)).sub(lambda m: names[m.group(0)], text)


def renamed(event, names: dict) -> dict:
    """A copy of one event (a dict or a WireEvent) with the user names of `names` replaced."""
    if isinstance(event, WireEvent):
        event = event.event
    return {k: (v if k in _KEEP else _renamed_value(v, names)) for k, v in event.items()}


def _renamed_value(value, names: dict):
    if isinstance(value, str):
        return rename_text(value, names)
    if isinstance(value, list):          # a header FreeSWITCH sent several times (JSON array)
        return [_renamed_value(v, names) for v in value]
    return value


def renamed_events(events, names: dict) -> list[dict]:
    """renamed() of each event, in order."""
    return [renamed(e, names) for e in events]


def renamed_api_output(command: str, names: dict, note: str = "") -> str:
    """A captured `api` output (api_outputs.txt: the first one of `command` whose note contains
    `note`) with the user names replaced, e.g. `sofia xmlstatus profile internal reg`."""
    for cmd, n, body in api_outputs():
        if cmd == command and note in n:
            return rename_text(body, names)
    raise KeyError(f"{command} ({note})")
