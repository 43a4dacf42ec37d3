"""Settings: defaults, then the optional cti.json-style file (FSCTI_CONFIG), then the environment.

The file is JSON that may carry `/* */` and `//` comments, as mod_cti's cti.json does. Every
setting is listed, with its default, in docs/configuration.md.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


def strip_json_comments(text: str) -> str:
    """Remove // and /* */ comments outside JSON strings."""
    out, i, n = [], 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
        elif c == '"':
            in_str = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise ConfigError("unterminated /* comment in config file")
            i = j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load_config_file(path: str | os.PathLike) -> dict:
    """Read a cti.json-style file (JSON with comments)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"FSCTI_CONFIG: cannot read {path}: {exc.strerror}") from exc
    try:
        data = json.loads(strip_json_comments(text))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"FSCTI_CONFIG: {path} line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"FSCTI_CONFIG: {path} must hold a JSON object")
    return data


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


_PROFILE_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")

DEFAULT_CALL_FIELDS = [
    "Caller-Destination-Number", "Caller-Caller-ID-Number", "Caller-Callee-ID-Number",
    "Caller-Profile-Created-Time", "Caller-Channel-Answered-Time", "Caller-Channel-Hangup-Time",
    "Caller-Channel-Progress-Time", "Caller-Channel-Progress-Media-Time", "Answer-State",
    "variable_signal_bond",
]

DEFAULT_CLI_COMMANDS = ["cti_timestamp", "bgapi", "uuid_kill", "show", "status"]


def _gui_defaults(gui: dict | None) -> dict:
    """mod_cti's `gui` section; absent parts take SPEC's example values."""
    gui = dict(gui or {})
    reg = {"hash": "registrations", "channel": "", "list": "", "list_max": 10000}
    reg.update(gui.get("registration") or {})
    call = {"fields": list(DEFAULT_CALL_FIELDS), "hash": "calls", "remove_hangup": False,
            "channel": "", "list": "", "list_max": 10000}
    call.update(gui.get("call") or {})
    return {"registration": reg, "call": call}


# `state` section: live registration/call state (app/state/, docs/state.md).
DEFAULT_STATE = {
    "sip_expires_late_margin": 60,     # s; FreeSWITCH's sip-expires-late-margin (facts §4.3)
    "multiple_registrations": False,   # the profiles' multiple-registrations (FreeSWITCH default off)
    "tombstone_ttl": 3600,             # s a hung-up channel / dead binding is remembered
    "call_stale_after": 7200,          # s without any event before a live call is checked
    "resync_interval": 300,            # s between periodic resyncs of every node
    "resync_lag_margin": 5,            # s; calls with events this recent survive a snapshot
    "sweep_interval": 15,              # s between expiry sweeps
    "job_result_ttl": 3600,            # s a BACKGROUND_JOB result is kept
    "channel_variables": [],           # extra channel headers kept on each call record
}


def _state_defaults(state: dict | None) -> dict:
    """The `state` section with defaults; numbers must be positive."""
    out = dict(DEFAULT_STATE)
    out["channel_variables"] = list(DEFAULT_STATE["channel_variables"])
    for key, value in (state or {}).items():
        if key not in DEFAULT_STATE:
            raise ConfigError(f"state.{key}: unknown setting")
        default = DEFAULT_STATE[key]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"state.{key}: must be true or false")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"state.{key}: must be a non-negative number")
        elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"state.{key}: must be a list of header names")
        out[key] = value
    return out


# `listener` section: the event-socket listener process (workers/listener.py, docs/listener.md).
# Each key can also be set by env FSCTI_LISTENER_<KEY>, e.g. FSCTI_LISTENER_BATCH_DELAY_MS=2.
DEFAULT_LISTENER = {
    "buffer_max": 100000,      # events kept in memory while the broker is unavailable
    "batch_size": 500,         # events per fscti.ingest.events task, at most
    "batch_delay_ms": 5.0,     # how long a batch's first event waits for more
    "backoff_initial": 0.5,    # s before the first reconnect to a node
    "backoff_max": 30.0,       # s, cap of the exponential reconnect backoff
    "idle_timeout": 60.0,      # s without a byte from a node (HEARTBEAT is every 20 s) → reconnect
    "status_interval": 30.0,   # s between status log lines and Redis status writes
    "broker_retry_max": 5.0,   # s, cap of the backoff while the broker refuses messages
    "decoder": "frames",       # "frames" (own JSON frame reader) or "esl" (python-ESL recvEvent)
}
_LISTENER_DECODERS = ("frames", "esl")


def _listener_defaults(section: dict | None, env) -> dict:
    """The `listener` section with defaults and FSCTI_LISTENER_* overrides; numbers must be > 0."""
    out = dict(DEFAULT_LISTENER)
    given = dict(section or {})
    for key in DEFAULT_LISTENER:
        if env.get(f"FSCTI_LISTENER_{key.upper()}"):
            given[key] = env[f"FSCTI_LISTENER_{key.upper()}"]
    for key, value in given.items():
        if key not in DEFAULT_LISTENER:
            raise ConfigError(f"listener.{key}: unknown setting")
        default = DEFAULT_LISTENER[key]
        if isinstance(default, str):
            if value not in _LISTENER_DECODERS:
                raise ConfigError(f"listener.{key}: must be one of {', '.join(_LISTENER_DECODERS)}")
            out[key] = value
            continue
        try:
            number = type(default)(value)
        except (TypeError, ValueError):
            raise ConfigError(f"listener.{key}: not a number") from None
        if isinstance(value, bool) or number <= 0:
            raise ConfigError(f"listener.{key}: must be a positive number")
        out[key] = number
    return out


# `actions` section: supervisor actions (workers/tasks/actions.py, docs/supervisor.md).
DEFAULT_ACTIONS = {
    "originate_timeout": 30,      # s the supervisor's phone rings before FreeSWITCH gives up
    "result_grace": 30,           # s past that to wait for the BACKGROUND_JOB result
    "max_retries": 5,             # retries while the node is unreachable; then the action fails
    "retry_backoff": 1.0,         # s before the first retry, doubled each time (full jitter)
    "retry_backoff_max": 8.0,     # s, cap of one retry delay
}


def _actions_defaults(section: dict | None) -> dict:
    """The `actions` section with defaults; every value a number in its range."""
    out = dict(DEFAULT_ACTIONS)
    for key, value in (section or {}).items():
        if key not in DEFAULT_ACTIONS:
            raise ConfigError(f"actions.{key}: unknown setting")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"actions.{key}: must be a number")
        if key in ("originate_timeout", "max_retries") and value != int(value):
            raise ConfigError(f"actions.{key}: must be a whole number")
        low, high = (1, 600) if key == "originate_timeout" else (0, 3600)
        if not low <= value <= high or (key.startswith("retry_backoff") and value <= 0):
            raise ConfigError(f"actions.{key}: out of range")
        out[key] = int(value) if isinstance(DEFAULT_ACTIONS[key], int) else float(value)
    return out


def _directory_cache(directory: dict, env) -> tuple[bool, int, float]:
    """directory.cache / cache_entries / cache_max_age (env FSCTI_DIRECTORY_CACHE*), checked."""
    raw = env.get("FSCTI_DIRECTORY_CACHE")
    on = directory.get("cache", True) if raw is None or raw == "" else raw
    if isinstance(on, str):
        if on.strip().lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ConfigError("directory.cache: must be true or false")
        on = on.strip().lower() in ("1", "true", "yes", "on")
    if not isinstance(on, bool):
        raise ConfigError("directory.cache: must be true or false")
    try:
        entries = int(env.get("FSCTI_DIRECTORY_CACHE_ENTRIES") or directory.get("cache_entries", 4096))
        max_age = float(env.get("FSCTI_DIRECTORY_CACHE_MAX_AGE") or directory.get("cache_max_age", 1.0))
    except (TypeError, ValueError) as exc:
        raise ConfigError("directory.cache_entries / cache_max_age: not a number") from exc
    if not 1 <= entries <= 1_000_000:
        raise ConfigError("directory.cache_entries: must be between 1 and 1000000")
    if not 0 < max_age <= 60:
        raise ConfigError("directory.cache_max_age: must be > 0 and <= 60 seconds")
    return on, entries, max_age


@dataclass
class Settings:
    """Everything fscti reads from its environment and config file."""

    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'fscti.db'}"
    redis_url: str = "redis://127.0.0.1:6379/0"
    celery_broker_url: str = ""
    celery_result_backend: str = ""
    admin_token: str = ""
    port: int = 5000
    freeswitch: list[FreeSwitchNode] = field(default_factory=list)
    gui: dict = field(default_factory=lambda: _gui_defaults(None))
    state: dict = field(default_factory=lambda: _state_defaults(None))
    listener: dict = field(default_factory=lambda: _listener_defaults(None, {}))
    actions: dict = field(default_factory=lambda: _actions_defaults(None))
    cli_keys: list[str] = field(default_factory=list)
    cli_commands: list[str] = field(default_factory=lambda: list(DEFAULT_CLI_COMMANDS))
    directory_credentials: str = ""
    directory_allow: list = field(default_factory=list)
    # Seconds the /directory hot path waits for Redis before answering from SQL.
    directory_redis_timeout: float = 0.25
    # Per-process cache of /directory answers kept exact by Redis invalidation (docs/freeswitch.md).
    directory_cache: bool = True
    directory_cache_entries: int = 4096
    directory_cache_max_age: float = 1.0
    esl_connect_timeout: float = 5.0
    log_level: str = "INFO"
    raw: dict = field(default_factory=dict)

    @classmethod
    def load(cls, env: dict | None = None) -> "Settings":
        """Build settings from FSCTI_CONFIG (if set) and the environment; env wins."""
        env = os.environ if env is None else env
        s = cls()
        data: dict = {}
        if env.get("FSCTI_CONFIG"):
            data = load_config_file(env["FSCTI_CONFIG"])
        s.raw = data
        s.database_url = env.get("DATABASE_URL") or data.get("database_url") or s.database_url
        s.redis_url = env.get("REDIS_URL") or data.get("redis_url") or s.redis_url
        s.celery_broker_url = (env.get("CELERY_BROKER_URL") or data.get("celery_broker_url")
                               or s.redis_url)
        s.celery_result_backend = (env.get("CELERY_RESULT_BACKEND")
                                   or data.get("celery_result_backend") or s.redis_url)
        s.admin_token = env.get("FSCTI_ADMIN_TOKEN") or ""
        try:
            s.port = int(env.get("PORT") or data.get("port") or s.port)
        except ValueError as exc:
            raise ConfigError("PORT: not a number") from exc
        if env.get("FREESWITCH_ESL"):
            s.freeswitch = [FreeSwitchNode.from_env(env["FREESWITCH_ESL"])]
        else:
            nodes = data.get("freeswitch") or []
            if isinstance(nodes, dict):
                nodes = [nodes]
            s.freeswitch = [FreeSwitchNode.from_dict(d, i) for i, d in enumerate(nodes)]
        names = [n.name for n in s.freeswitch]
        if len(set(names)) != len(names):
            raise ConfigError("freeswitch: node names must be unique")
        s.gui = _gui_defaults(data.get("gui"))
        s.state = _state_defaults(data.get("state"))
        s.listener = _listener_defaults(data.get("listener"), env)
        s.actions = _actions_defaults(data.get("actions"))
        cli = data.get("cli") or {}
        keys = env.get("FSCTI_CLI_KEYS")
        s.cli_keys = ([k.strip() for k in keys.split(",") if k.strip()] if keys
                      else [str(k) for k in cli.get("keys") or []])
        if cli.get("commands"):
            s.cli_commands = [str(c) for c in cli["commands"]]
        directory = data.get("directory") or {}
        s.directory_credentials = (env.get("FSCTI_DIRECTORY_CREDENTIALS")
                                   or directory.get("credentials") or "")
        allow = env.get("FSCTI_DIRECTORY_ALLOW")
        allow_list = [a.strip() for a in allow.split(",") if a.strip()] if allow else directory.get("allow") or []
        try:
            s.directory_allow = [ipaddress.ip_network(a, strict=False) for a in allow_list]
        except ValueError as exc:
            raise ConfigError(f"directory.allow: {exc}") from exc
        try:
            s.directory_redis_timeout = float(env.get("FSCTI_DIRECTORY_REDIS_TIMEOUT")
                                              or directory.get("redis_timeout") or 0.25)
        except ValueError as exc:
            raise ConfigError("directory.redis_timeout: not a number") from exc
        if s.directory_redis_timeout <= 0:
            raise ConfigError("directory.redis_timeout: must be > 0")
        s.directory_cache, s.directory_cache_entries, s.directory_cache_max_age = \
            _directory_cache(directory, env)
        s.esl_connect_timeout = float(env.get("FSCTI_ESL_TIMEOUT") or data.get("esl_timeout") or 5.0)
        s.log_level = (env.get("LOG_LEVEL") or data.get("log_level") or "INFO").upper()
        return s

    def node(self, name: str) -> FreeSwitchNode | None:
        """The configured FreeSWITCH node with this name."""
        return next((n for n in self.freeswitch if n.name == name), None)
