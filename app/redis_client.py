"""Every Redis client fscti builds comes from here: a plain URL or a Sentinel-managed master.

Two URL forms (docs/configuration.md):

- `redis://[[user]:password@]host:port/db`, `rediss://...`, `unix://...`: redis-py's own forms,
  unchanged;
- `redis+sentinel://[[user]:password@]h1:26379,h2:26379/<master-name>/<db>[?options]`: the
  master that the sentinels h1, h2, ... name `<master-name>`. The credentials are the master's;
  the options are `sentinel_password`, `sentinel_username` (the sentinels' own credentials, when
  they have `requirepass`) and `socket_timeout` (seconds for one question to a sentinel,
  default 0.5). A host without a port means 26379; an IPv6 address is written in brackets.

`client(url, **kwargs)` gives a redis-py client either way: for a sentinel URL it is
`Sentinel(...).master_for(...)`, which asks the sentinels for the master's address on every new
connection and drops its connections when that address changes or the server answers READONLY
(a demoted master), so a failover costs the commands in flight, not a restart. The directory's
hot connections (app.directory.hotconn, plain sockets) ask `master_address(url)` instead.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

import redis
from redis.sentinel import Sentinel

SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379
DEFAULT_SENTINEL_TIMEOUT = 0.5
_OPTIONS = {"sentinel_password", "sentinel_username", "socket_timeout"}


@dataclass(frozen=True)
class SentinelTarget:
    """What a redis+sentinel:// URL names."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    socket_timeout: float = DEFAULT_SENTINEL_TIMEOUT

    def sentinel_kwargs(self) -> dict:
        """Connection options for the sentinels themselves (not for the master)."""
        out: dict = {"socket_timeout": self.socket_timeout,
                     "socket_connect_timeout": self.socket_timeout}
        if self.sentinel_password:
            out["password"] = self.sentinel_password
        if self.sentinel_username:
            out["username"] = self.sentinel_username
        return out

    def credentials(self) -> dict:
        """The master's credentials as redis-py keyword arguments."""
        out = {}
        if self.password:
            out["password"] = self.password
        if self.username:
            out["username"] = self.username
        return out


def is_sentinel(url: str) -> bool:
    """True for a redis+sentinel:// URL."""
    return str(url or "").lower().startswith(SCHEME + "://")


def parse(url: str) -> SentinelTarget:
    """Parse a redis+sentinel:// URL; ValueError naming what is wrong with it."""
    if not is_sentinel(url):
        raise ValueError(f"not a {SCHEME}:// URL: {_safe(url)!r}")
    rest = url[len(SCHEME) + 3:]
    rest, _, query = rest.partition("?")
    rest, _, fragment = rest.partition("#")
    if fragment:
        raise ValueError(f"{SCHEME} URL: a '#' fragment is not allowed ({_safe(url)!r})")
    netloc, _, path = rest.partition("/")
    creds, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, pw = creds.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if colon else None
        if password is None and username is not None:
            # `secret@h:26379` reads as a password (as redis-py reads `redis://secret@h`)
            username, password = None, username
    sentinels = tuple(_host_port(h, url) for h in hosts.split(",")) if hosts else ()
    if not sentinels:
        raise ValueError(f"{SCHEME} URL names no sentinel host ({_safe(url)!r}): "
                         f"write {SCHEME}://h1:26379,h2:26379/<master-name>/<db>")
    parts = path.split("/") if path else []
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if not parts or not parts[0]:
        raise ValueError(f"{SCHEME} URL names no master ({_safe(url)!r}): "
                         f"the path must be /<master-name>/<db>")
    if len(parts) > 2:
        raise ValueError(f"{SCHEME} URL: the path must be /<master-name>/<db>, "
                         f"got {'/' + '/'.join(parts)!r}")
    master = unquote(parts[0])
    db = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise ValueError(f"{SCHEME} URL: the database must be a number, got {parts[1]!r}")
        db = int(parts[1])
    opts = {}
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if name not in _OPTIONS:
            raise ValueError(f"{SCHEME} URL: unknown option {name!r} "
                             f"(known: {', '.join(sorted(_OPTIONS))})")
        opts[name] = value
    timeout = DEFAULT_SENTINEL_TIMEOUT
    if "socket_timeout" in opts:
        try:
            timeout = float(opts["socket_timeout"])
        except ValueError:
            timeout = -1.0
        if not timeout > 0:
            raise ValueError(f"{SCHEME} URL: socket_timeout must be a positive number of "
                             f"seconds, got {opts['socket_timeout']!r}")
    return SentinelTarget(sentinels, master, db, username, password,
                          opts.get("sentinel_username") or None,
                          opts.get("sentinel_password") or None, timeout)


def _host_port(text: str, url: str) -> tuple[str, int]:
    text = text.strip()
    if not text:
        raise ValueError(f"{SCHEME} URL has an empty host in its host list ({_safe(url)!r})")
    if text.startswith("["):
        host, bracket, tail = text[1:].partition("]")
        if not bracket or not host:
            raise ValueError(f"{SCHEME} URL: unclosed '[' in host {text!r}")
        if tail and not tail.startswith(":"):
            raise ValueError(f"{SCHEME} URL: bad host {text!r}")
        port_text = tail[1:] if tail else ""
    else:
        host, colon, port_text = text.partition(":")
        if ":" in port_text:
            raise ValueError(f"{SCHEME} URL: bad host {text!r} (write an IPv6 address in brackets)")
        if not host:
            raise ValueError(f"{SCHEME} URL: a host is missing before ':' in {text!r}")
    if port_text == "":
        return host, DEFAULT_SENTINEL_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{SCHEME} URL: bad port {port_text!r} for host {host!r}")
    return host, int(port_text)


def _safe(url: str) -> str:
    """The URL with its password replaced, for messages."""
    url = str(url)
    head, sep, tail = url.partition("://")
    creds, at, rest = tail.rpartition("@")
    if at and ":" in creds:
        return f"{head}{sep}{creds.split(':', 1)[0]}:***@{rest}"
    if at:
        return f"{head}{sep}***@{rest}"
    return url


def check(url: str) -> None:
    """ValueError when `url` cannot be used (the settings call this at start-up)."""
    if is_sentinel(url):
        parse(url)
    elif not str(url or "").lower().startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"not a Redis URL: {_safe(url)!r} (redis://, rediss://, unix:// "
                         f"or {SCHEME}://)")


# One Sentinel (and its connections to the sentinels) per process and target.
_SENTINELS: dict[SentinelTarget, Sentinel] = {}
_LOCK = threading.Lock()


def sentinel(target: SentinelTarget) -> Sentinel:
    """The process's Sentinel for `target`."""
    found = _SENTINELS.get(target)
    if found is None:
        with _LOCK:
            found = _SENTINELS.get(target)
            if found is None:
                found = _SENTINELS[target] = Sentinel(
                    list(target.sentinels), sentinel_kwargs=target.sentinel_kwargs())
    return found


def client(url: str, **kwargs) -> redis.Redis:
    """A redis-py client for `url`; `kwargs` are redis-py's (timeouts, retry, decoding)."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **kwargs)
    target = parse(url)
    return sentinel(target).master_for(target.master, redis_class=redis.Redis, db=target.db,
                                       **target.credentials(), **kwargs)


def master_address(url: str) -> tuple[str, int]:
    """The master's (host, port) as the sentinels say now; redis.sentinel.MasterNotFoundError
    (a redis.ConnectionError) when none of them knows a master in good state."""
    target = parse(url)
    return sentinel(target).discover_master(target.master)
