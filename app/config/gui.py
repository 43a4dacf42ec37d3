"""The `gui` section: mod_cti's extra Redis outputs of registrations and calls (SPEC §2-§3).

Checked at start because the ingest task reads it on every event: a wrong type there would
fail every batch, and a hash or list named like one of fscti's own keys would overwrite it.
"""
from __future__ import annotations

import re

from app.config.file import ConfigError, number, section
from app.state import keys

DEFAULT_CALL_FIELDS = [
    "Caller-Destination-Number", "Caller-Caller-ID-Number", "Caller-Callee-ID-Number",
    "Caller-Profile-Created-Time", "Caller-Channel-Answered-Time", "Caller-Channel-Hangup-Time",
    "Caller-Channel-Progress-Time", "Caller-Channel-Progress-Media-Time", "Answer-State",
    "variable_signal_bond",
]

# SPEC's example values; `list_max` (fscti's) caps each list.
DEFAULT_GUI = {
    "registration": {"hash": "registrations", "channel": "", "list": "", "list_max": 10000},
    "call": {"fields": DEFAULT_CALL_FIELDS, "hash": "calls", "remove_hangup": False,
             "channel": "", "list": "", "list_max": 10000},
}
LIST_MAX_LIMIT = 10_000_000
FIELDS_MAX = 256

# A Redis name: printable ASCII, no spaces (what a GUI's config can spell and a log can show).
_NAME_RE = re.compile(r"[!-~]{1,200}")
# An event header or `variable_<name>`: letters, digits and _ . : - as FreeSWITCH names them.
_HEADER_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,127}")


def _name(where: str, kind: str, value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f'{where}: must be a string ("" = off)')
    if not value:
        return ""
    if not _NAME_RE.fullmatch(value):
        raise ConfigError(f"{where}: must be 1-200 printable ASCII characters without spaces")
    reserved = keys.reserved_channel_prefixes() if kind == "channel" else keys.reserved_prefixes()
    if value.startswith(reserved):
        raise ConfigError(f"{where}: {value!r} collides with names fscti or Redis use "
                          f"({', '.join(p + '…' for p in reserved)})")
    return value


def _fields(where: str, value) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError(f'{where}: must be a list of event header names, e.g. ["Answer-State"]')
    if len(value) > FIELDS_MAX:
        raise ConfigError(f"{where}: at most {FIELDS_MAX} names")
    for i, name in enumerate(value):
        if not isinstance(name, str) or not _HEADER_RE.fullmatch(name):
            raise ConfigError(f"{where}[{i}]: {name!r} is not an event header name "
                              f"(letters, digits, _ . : -; a channel variable is variable_<name>)")
    return list(value)


def _value(where: str, key: str, value):
    if key in ("hash", "channel", "list"):
        return _name(where, key, value)
    if key == "list_max":
        return number(value, where, 1, LIST_MAX_LIMIT, whole=True)
    if key == "remove_hangup":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: must be true or false")
        return value
    return _fields(where, value)


def gui_section(gui: dict | None) -> dict:
    """The `gui` section with defaults, every value checked; unknown keys are refused."""
    given = section(gui, "gui")
    for part in given:
        if part not in DEFAULT_GUI:
            raise ConfigError(f"gui.{part}: unknown setting (registration, call)")
    out = {}
    for part, defaults in DEFAULT_GUI.items():
        values = {k: (list(v) if isinstance(v, list) else v) for k, v in defaults.items()}
        for key, value in section(given.get(part), f"gui.{part}").items():
            if key not in defaults:
                raise ConfigError(f"gui.{part}.{key}: unknown setting ({', '.join(defaults)})")
            values[key] = _value(f"gui.{part}.{key}", key, value)
        out[part] = values
    _distinct(out)
    return out


def _distinct(gui: dict) -> None:
    """Two outputs on one key would clobber each other (or fail with WRONGTYPE on every event)."""
    seen: dict[str, str] = {}
    for part in DEFAULT_GUI:
        for key in ("hash", "list"):
            name = gui[part][key]
            if not name:
                continue
            if name in seen:
                raise ConfigError(f"gui.{part}.{key}: {name!r} is also {seen[name]}; each hash "
                                  f"and list needs its own name")
            seen[name] = f"gui.{part}.{key}"
