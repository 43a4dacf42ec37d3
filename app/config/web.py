"""The `web` section: which proxies the HTTP process believes, and how large a body it takes.

`trusted_proxies` is the number of reverse proxies in front of `web` that append to
X-Forwarded-For and set X-Forwarded-Proto / X-Forwarded-Host (werkzeug's ProxyFix with that
many hops). 0, the default, believes no such header: the client is the TCP peer. With a proxy
on the same host and 0, every client would be 127.0.0.1, and the `directory.allow` check
would admit anyone the proxy forwards.

`max_content_length` bounds every request body (413 beyond it, decided from Content-Length
before any byte is read); /directory keeps its own 64 KiB and /cli its own 16 KiB.
"""
from __future__ import annotations

from app.config.file import ConfigError, number, section

DEFAULT_WEB = {"trusted_proxies": 0, "max_content_length": 16 * 1024 * 1024}
TRUSTED_PROXIES_MAX = 8
# Below 64 KiB a chunked /directory request could meet this limit before its own.
MAX_CONTENT_LENGTH_MIN = 64 * 1024
MAX_CONTENT_LENGTH_MAX = 1024 * 1024 * 1024
_ENV = {"trusted_proxies": "FSCTI_TRUSTED_PROXIES", "max_content_length": "FSCTI_MAX_CONTENT_LENGTH"}


def _trusted_proxies(value) -> int:
    if not isinstance(value, bool) and value in (0, "0"):
        return 0
    try:
        return int(number(value, "web.trusted_proxies", 1, TRUSTED_PROXIES_MAX, whole=True))
    except ConfigError as exc:
        raise ConfigError(f"web.trusted_proxies: must be a whole number of proxies, 0 (none) to "
                          f"{TRUSTED_PROXIES_MAX} (got {value!r})") from exc


def web_section(web: dict | None, env) -> dict:
    """The `web` settings with defaults; env FSCTI_TRUSTED_PROXIES / FSCTI_MAX_CONTENT_LENGTH win."""
    given = section(web, "web")
    for key in given:
        if key not in DEFAULT_WEB:
            raise ConfigError(f"web.{key}: unknown setting ({', '.join(DEFAULT_WEB)})")
    for key, name in _ENV.items():
        if env.get(name):
            given[key] = env[name].strip()
    return {
        "trusted_proxies": _trusted_proxies(given.get("trusted_proxies", 0)),
        "max_content_length": int(number(given.get("max_content_length",
                                                   DEFAULT_WEB["max_content_length"]),
                                         "web.max_content_length", MAX_CONTENT_LENGTH_MIN,
                                         MAX_CONTENT_LENGTH_MAX, whole=True)),
    }
