"""Who may use the HTTP endpoints outside /api/v1: the `cli` gateway keys and commands, and
the `directory` endpoint's credentials, client networks and answer cache."""
from __future__ import annotations

import ipaddress
import socket

from app.config.file import ConfigError, section

# Who may ask /directory (it serves SIP passwords) when neither `directory.allow` nor
# credentials are set: loopback and private networks (IPv4 also as IPv4-mapped IPv6, for a
# dual-stack bind). `"allow": ["any"]` opens it to every address.
DIRECTORY_DEFAULT_ALLOW = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12",
                           "192.168.0.0/16", "fc00::/7", "::ffff:127.0.0.0/104",
                           "::ffff:10.0.0.0/104", "::ffff:172.16.0.0/108",
                           "::ffff:192.168.0.0/112")
DIRECTORY_ANY = ("0.0.0.0/0", "::/0")

# Gateway commands app/services/httpcli.py can rebuild; `cli.commands` picks among them.
CLI_COMMANDS = ("cti_timestamp", "uuid_kill", "show", "status", "bgapi", "api")
DEFAULT_CLI_COMMANDS = ["cti_timestamp", "bgapi", "uuid_kill", "show", "status"]
# A gateway key travels in a URL and guards hang-ups: short ones are guessed.
CLI_KEY_MIN = 8
CLI_KEY_MAX = 256


def _cli_key(where: str, key) -> str:
    if not isinstance(key, str) or not key:
        raise ConfigError(f"{where}: each key must be a non-empty string")
    if len(key) < CLI_KEY_MIN or len(key) > CLI_KEY_MAX:
        raise ConfigError(f"{where}: each key must be {CLI_KEY_MIN}-{CLI_KEY_MAX} characters "
                          f"(got one of {len(key)})")
    if any(ord(c) < 33 or ord(c) == 127 for c in key):
        raise ConfigError(f"{where}: a key cannot contain spaces or control characters")
    return key


def cli_section(cli: dict | None, env) -> tuple[list[str], list[str]]:
    """(keys, commands) of the /cli gateway; FSCTI_CLI_KEYS (comma-separated) replaces the keys."""
    given = section(cli, "cli")
    for key in given:
        if key not in ("keys", "commands"):
            raise ConfigError(f"cli.{key}: unknown setting (keys, commands)")
    raw = env.get("FSCTI_CLI_KEYS")
    if raw:
        keys = [_cli_key("FSCTI_CLI_KEYS", k.strip()) for k in raw.split(",") if k.strip()]
    else:
        value = given.get("keys")
        if value is None:
            value = []
        if not isinstance(value, list):
            raise ConfigError('cli.keys: must be a list of keys, e.g. ["<a long random key>"]')
        keys = [_cli_key("cli.keys", k) for k in value]
    commands = given.get("commands")
    if not commands:  # absent or [] keeps the default list
        return keys, list(DEFAULT_CLI_COMMANDS)
    if not isinstance(commands, list):
        raise ConfigError(f'cli.commands: must be a list, e.g. {DEFAULT_CLI_COMMANDS}')
    for cmd in commands:
        if cmd not in CLI_COMMANDS:
            raise ConfigError(f"cli.commands: {cmd!r} is not a gateway command "
                              f"({', '.join(CLI_COMMANDS)})")
    return keys, list(dict.fromkeys(commands))


def directory_section(directory: dict | None, env) -> dict:
    """The `directory` settings (env FSCTI_DIRECTORY_* wins), as Settings' directory_* fields."""
    directory = section(directory, "directory")
    credentials = env.get("FSCTI_DIRECTORY_CREDENTIALS") or directory.get("credentials") or ""
    if not isinstance(credentials, str):
        raise ConfigError('directory.credentials: must be "user:password" or ""')
    allow = env.get("FSCTI_DIRECTORY_ALLOW")
    allow_list = ([a.strip() for a in allow.split(",") if a.strip()] if allow
                  else directory.get("allow") or [])
    if not isinstance(allow_list, list):
        raise ConfigError('directory.allow: must be a list of networks, e.g. ["10.0.0.0/8"]')
    if not allow_list:
        # Credentials guard the endpoint from anywhere; without them only private clients.
        allow_list = [] if credentials else list(DIRECTORY_DEFAULT_ALLOW)
    networks = directory_networks(allow_list)
    timeout = env.get("FSCTI_DIRECTORY_REDIS_TIMEOUT") or directory.get("redis_timeout") or 0.25
    try:
        timeout = float(timeout)
    except (TypeError, ValueError) as exc:
        raise ConfigError("directory.redis_timeout: not a number") from exc
    if timeout <= 0:
        raise ConfigError("directory.redis_timeout: must be > 0")
    cache, entries, max_age = _directory_cache(directory, env)
    return {"credentials": credentials, "allow": networks, "redis_timeout": timeout,
            "cache": cache, "cache_entries": entries, "cache_max_age": max_age,
            **_directory_replica(directory, env)}


def _flag(raw, name: str) -> bool:
    if isinstance(raw, str):
        if raw.strip().lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ConfigError(f"{name}: must be true or false")
        raw = raw.strip().lower() in ("1", "true", "yes", "on")
    if not isinstance(raw, bool):
        raise ConfigError(f"{name}: must be true or false")
    return raw


def _directory_replica(directory: dict, env) -> dict:
    """directory.replica / replica_path / replica_lease / replica_host (env FSCTI_DIRECTORY_REPLICA*):
    the per-host replica (docs/freeswitch.md §7.1)."""
    raw = env.get("FSCTI_DIRECTORY_REPLICA")
    on = _flag(directory.get("replica", False) if raw is None or raw == "" else raw, "directory.replica")
    path = env.get("FSCTI_DIRECTORY_REPLICA_PATH") or directory.get("replica_path") or "var/replica"
    host = env.get("FSCTI_DIRECTORY_REPLICA_HOST") or directory.get("replica_host") or socket.gethostname()
    if not isinstance(path, str) or not isinstance(host, str) or not host.strip():
        raise ConfigError("directory.replica_path / replica_host: must be text")
    try:
        lease = float(env.get("FSCTI_DIRECTORY_REPLICA_LEASE") or directory.get("replica_lease", 1.0))
    except (TypeError, ValueError) as exc:
        raise ConfigError("directory.replica_lease: not a number") from exc
    if not 0.2 <= lease <= 30:
        raise ConfigError("directory.replica_lease: must be between 0.2 and 30 seconds")
    return {"replica": on, "replica_path": path, "replica_host": host.strip(), "replica_lease": lease}


def directory_networks(allow: list) -> list:
    """`directory.allow` entries as networks; "any" stands for 0.0.0.0/0 and ::/0."""
    out = []
    for entry in allow:
        if not isinstance(entry, str):
            raise ConfigError(f"directory.allow: {entry!r} is not a network such as 10.0.0.0/8")
        if entry.strip().lower() == "any":
            out.extend(ipaddress.ip_network(n) for n in DIRECTORY_ANY)
            continue
        try:
            out.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ConfigError(f'directory.allow: {exc} (a network such as 10.0.0.0/8, or "any")'
                              ) from exc
    return out


def directory_public_networks(credentials: str, networks: list) -> list[str]:
    """Allowed networks that reach public addresses while no credentials are set (what the
    start-up warning names); [] when the directory only answers private clients or needs
    credentials. An empty allowlist means any address."""
    if credentials:
        return []
    if not networks:
        return ["any address"]
    private = [ipaddress.ip_network(n) for n in DIRECTORY_DEFAULT_ALLOW]
    return [str(net) for net in networks
            if not any(net.version == p.version and net.subnet_of(p) for p in private)]


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
