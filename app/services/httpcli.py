"""The /cli gateway, compatible with mod_cti's httpcli (SPEC §5).

Nothing a caller sends is forwarded as text. The mod_cti request forms are parsed into
structured parts, each part passes its whitelist, and the command is rebuilt by the
builders of app/esl/commands.py and app/esl/supervisor_commands.py; anything else is
refused. Supported (each `cmd` must also be in `cli.commands`):

    cmd=cti_timestamp                      → api strmicroepoch
    cmd=uuid_kill  arg=<uuid> [<CAUSE>]    → api uuid_kill <uuid> [<CAUSE>]
    cmd=show       arg=<table> [count] [as json|xml]
    cmd=status
    cmd=bgapi      arg=<one of the above, or an originate form below>
    cmd=api        arg=<one of the above> (not in the default list; never originate)

    originate forms (`cti_originate` is mod_cti's name for `originate`):
      [cti_]originate [{vars}]user/<ext>[@<domain>] &eavesdrop(<uuid>)
      [cti_]originate [{vars}]user/<ext>[@<domain>] &three_way(<uuid>)
      [cti_]originate [{vars}]user/<ext>[@<domain>] [set:<var>=<value>,...]eavesdrop:<uuid> inline
      [cti_]originate [{vars}]user/<ext>[@<domain>] three_way:<uuid> inline
    with <var> one of supervisor_commands.ORIGINATE_VARIABLES (or origination_uuid in `{}`).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import uuid as uuidlib
from dataclasses import dataclass

from flask import current_app

from app.config import CLI_COMMANDS
from app.esl import commands, supervisor_commands
from app.esl.command_types import ApiCommand, InvalidArgument
from app.esl.errors import EslCommandError, EslUnavailable
from app.esl.pool import esl_pool
from app.services.nodes import NodeUnavailable, Refused, named
from app.state.calls import find_call

ARG_MAX = 1024
ORIGINATE_WORDS = ("cti_originate", "originate")
SUPPORTED = CLI_COMMANDS  # what `cli.commands` may list (checked when the config loads)

_DIAL_RE = re.compile(r"(?:\{(?P<vars>[^{}]*)\})?user/(?P<ext>[^@/]+)(?:@(?P<domain>.+))?")
_APP_RE = re.compile(r"&(?P<app>[a-z_]+)\((?P<uuid>[^()]*)\)")
_INLINE_APP_RE = re.compile(r"(?P<app>[a-z_]+):(?P<uuid>.*)")


class GatewayError(Refused):
    """A request the gateway refuses; `status` is the HTTP status, the message says why."""


class BadArgument(GatewayError):
    status = 400


class NotAllowed(GatewayError):
    status = 403


@dataclass
class Plan:
    """A parsed gateway request: the rebuilt command and how to send it."""

    cmd: str                      # the gateway command (cti_timestamp, bgapi, ...)
    command: ApiCommand  # what goes after `api ` / `bgapi `
    background: bool              # bgapi
    target_uuid: str | None = None


# --- keys ----------------------------------------------------------------------------------

def key_matches(given: str, keys: list[str]) -> bool:
    """Whether `given` is one of `keys`, compared in constant time against every key."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(given.encode(), key.encode())
    return found


def key_id(key: str) -> str:
    """A short, stable name for a key in the audit (never the key itself)."""
    return "cli:" + hashlib.sha256(key.encode()).hexdigest()[:8]


# --- parsing -------------------------------------------------------------------------------

def check_text(name: str, value: str) -> None:
    """CR, LF and NUL end or cut an event-socket packet (facts §3.7): refused outright."""
    if any(c in value for c in "\r\n\x00"):
        raise BadArgument(f"{name} must not contain CR, LF or NUL")
    if len(value) > ARG_MAX:
        raise BadArgument(f"{name} is longer than {ARG_MAX} characters")


def plan(cmd: str, arg: str, allowed: list[str]) -> Plan:
    """Parse and validate one request into a Plan, or raise a GatewayError."""
    check_text("cmd", cmd)
    check_text("arg", arg)
    _allow(cmd, allowed)
    if cmd in ("bgapi", "api"):
        if not arg.strip(" "):
            raise BadArgument(f"{cmd} needs an arg: the command to run")
        words = arg.strip(" ").split(" ", 1)
        inner = words[0]
        if inner in ORIGINATE_WORDS:
            if cmd == "api":
                raise NotAllowed("originate only through bgapi (it waits for the supervisor to "
                                 "answer)")
            command, target = _originate(arg)
            return Plan(cmd, command, True, target)
        if inner in ("bgapi", "api"):
            raise BadArgument(f"{cmd} {inner} is not supported")
        _allow(inner, allowed)
        command, target = _simple(inner, words[1] if len(words) > 1 else "")
        return Plan(cmd, command, cmd == "bgapi", target)
    command, target = _simple(cmd, arg)
    return Plan(cmd, command, False, target)


def _allow(cmd: str, allowed: list[str]) -> None:
    if cmd not in allowed:
        raise NotAllowed(f"command {cmd[:40]!r} is not allowed on this gateway "
                         f"(allowed: {', '.join(allowed) or 'none'})")
    if cmd not in SUPPORTED:
        raise NotAllowed(f"command {cmd[:40]!r} is not supported by the gateway "
                         f"(supported: {', '.join(SUPPORTED)})")


def _words(arg: str) -> list[str]:
    return [w for w in arg.strip(" ").split(" ") if w]


def _build(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except InvalidArgument as exc:
        raise BadArgument(str(exc)) from exc


def _simple(cmd: str, arg: str) -> tuple[ApiCommand, str | None]:
    words = _words(arg)
    if cmd == "cti_timestamp":
        if words:
            raise BadArgument("cti_timestamp takes no arg")
        return commands.strmicroepoch(), None
    if cmd == "status":
        if words:
            raise BadArgument("status takes no arg")
        return commands.status(), None
    if cmd == "uuid_kill":
        if len(words) not in (1, 2):
            raise BadArgument("uuid_kill takes <uuid> [<CAUSE>]")
        return _build(supervisor_commands.uuid_kill, *words), words[0]
    if cmd == "show":
        return _show(words), None
    raise NotAllowed(f"command {cmd[:40]!r} is not supported by the gateway")


def _show(words: list[str]) -> ApiCommand:
    if not words:
        raise BadArgument("show takes <table> [count] [as json|xml]")
    what, rest = words[0], words[1:]
    count = bool(rest) and rest[0] == "count"
    if count:
        rest = rest[1:]
    fmt = None
    if rest:
        if len(rest) != 2 or rest[0] != "as":
            raise BadArgument("show takes <table> [count] [as json|xml]")
        fmt = rest[1]
    return _build(commands.show, what, count, fmt)


def _pairs(text: str, sep: str, what: str) -> dict:
    out = {}
    for item in text.split(sep):
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise BadArgument(f"{what}: expected <variable>=<value>, got {item[:40]!r}")
        out[name] = value
    return out


def _originate(arg: str) -> tuple[ApiCommand, str]:
    words = _words(arg)
    usage = ("originate forms: user/<ext> &eavesdrop(<uuid>) | &three_way(<uuid>) | "
             "[set:<var>=<value>,...]eavesdrop:<uuid> inline | three_way:<uuid> inline")
    if len(words) not in (3, 4) or (len(words) == 4 and words[3] != "inline"):
        raise BadArgument(usage)
    dial = _DIAL_RE.fullmatch(words[1])
    if dial is None:
        raise BadArgument("the dial string must be [{vars}]user/<ext>[@<domain>]")
    variables = _pairs(dial["vars"], ",", "{vars}") if dial["vars"] else {}
    origination_uuid = variables.pop("origination_uuid", None)
    kwargs = {"domain": dial["domain"], "variables": variables,
              "origination_uuid": origination_uuid}
    if len(words) == 3:
        app = _APP_RE.fullmatch(words[2])
        if app is None:
            raise BadArgument(usage)
        return _build(supervisor_commands.originate_supervisor, dial["ext"], app["uuid"],
                      app["app"], **kwargs), app["uuid"]
    *sets, last = words[2].split(",")
    app = _INLINE_APP_RE.fullmatch(last)
    if app is None or any(not s.startswith("set:") for s in sets):
        raise BadArgument(usage)
    inline_set = _pairs(",".join(s[4:] for s in sets), ",", "set:") if sets else None
    return _build(supervisor_commands.originate_supervisor, dial["ext"], app["uuid"],
                  app["app"], inline=True, inline_set=inline_set, **kwargs), app["uuid"]


# --- routing and running -------------------------------------------------------------------

def route(plan_: Plan, node: str | None):
    """The node to use: `node=` if given, else the call's node in the live state, else the first."""
    settings = current_app.config["FSCTI"]
    if not settings.freeswitch:
        raise NodeUnavailable("no FreeSWITCH node is configured")
    if node:
        return named(settings, node)
    if plan_.target_uuid:
        call = find_call(plan_.target_uuid)
        if call is not None and settings.node(call.get("node") or "") is not None:
            return settings.node(call["node"])
    return settings.freeswitch[0]


def execute(plan_: Plan, node) -> tuple[str, str | None]:
    """Send the command; (FreeSWITCH's reply text, job uuid for bgapi)."""
    try:
        if plan_.background:
            job = str(uuidlib.uuid4())
            esl_pool().bgapi(node, plan_.command, job)
            return f"+OK Job-UUID: {job}", job
        return esl_pool().api(node, plan_.command), None
    except EslCommandError as exc:
        return exc.reply, None
    except EslUnavailable as exc:
        raise NodeUnavailable(f"FreeSWITCH node {node.name} is unavailable: {exc}") from exc

