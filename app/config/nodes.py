"""The `freeswitch` section (or FREESWITCH_ESL): the FreeSWITCH nodes and their event sockets."""
from __future__ import annotations

import re
from dataclasses import dataclass

from app.config.file import ConfigError

_PROFILE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class FreeSwitchNode:
    """One FreeSWITCH server reached over its event socket."""

    name: str
    host: str
    port: int = 8021
    password: str = "ClueCon"
    # sofia profiles whose registrations the state resync reads (`sofia xmlstatus profile <p> reg`)
    profiles: tuple = ("internal",)

    @classmethod
    def from_dict(cls, d: dict, index: int) -> "FreeSwitchNode":
        if not isinstance(d, dict) or not d.get("host"):
            raise ConfigError(f"freeswitch[{index}]: needs at least a host")
        try:
            port = int(d.get("port", 8021))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"freeswitch[{index}].port: not a number") from exc
        name = str(d.get("name") or f"{d['host']}:{port}")
        profiles = d.get("profiles", ["internal"])
        if (not isinstance(profiles, list) or not profiles
                or not all(isinstance(p, str) and _PROFILE_RE.fullmatch(p) for p in profiles)):
            raise ConfigError(f"freeswitch[{index}].profiles: a non-empty list of sofia profile names")
        return cls(name=name, host=str(d["host"]), port=port, password=str(d.get("password", "ClueCon")),
                   profiles=tuple(profiles))

    @classmethod
    def from_env(cls, value: str) -> "FreeSwitchNode":
        """Parse FREESWITCH_ESL=host:port:password (the password may contain ':')."""
        parts = value.split(":", 2)
        if len(parts) < 2 or not parts[0]:
            raise ConfigError("FREESWITCH_ESL: expected host:port:password")
        try:
            port = int(parts[1])
        except ValueError as exc:
            raise ConfigError("FREESWITCH_ESL: port is not a number") from exc
        return cls(name=parts[0], host=parts[0], port=port,
                   password=parts[2] if len(parts) > 2 else "ClueCon")


def load_nodes(data: dict, env) -> list[FreeSwitchNode]:
    """FREESWITCH_ESL (one node) or the file's `freeswitch` list; names must be unique."""
    if env.get("FREESWITCH_ESL"):
        nodes = [FreeSwitchNode.from_env(env["FREESWITCH_ESL"])]
    else:
        given = data.get("freeswitch") or []
        if isinstance(given, dict):
            given = [given]
        if not isinstance(given, list):
            raise ConfigError("freeswitch: must be a list of nodes")
        nodes = [FreeSwitchNode.from_dict(d, i) for i, d in enumerate(given)]
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise ConfigError("freeswitch: node names must be unique")
    return nodes
