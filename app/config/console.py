"""The `console` section: the live supervisor console at /console (docs/console.md).

`session_lifetime`: seconds a console sign-in lasts (the session is kept in Redis and ends
then, or at sign-out, or when its API token is revoked). `repaint_ms`: how long the server
gathers state changes before it sends them to the consoles (one message per domain per
period, whatever the event rate). `max_extensions`: the most extensions a domain's snapshot
holds. `feed` (true): the state script publishes which extensions changed
(`fscti:console@<domain>`), which the console's live updates need; false saves those two
Redis calls per batch and domain where no console is used. Environment
FSCTI_CONSOLE_SESSION_LIFETIME wins over the file.
"""
from __future__ import annotations

from app.config.file import ConfigError, number, section

DEFAULT_CONSOLE = {"session_lifetime": 8 * 3600, "repaint_ms": 250, "max_extensions": 50000,
                   "feed": True}
_LIMITS = {"session_lifetime": (60, 30 * 24 * 3600), "repaint_ms": (50, 5000),
           "max_extensions": (1, 1_000_000)}
_ENV = {"session_lifetime": "FSCTI_CONSOLE_SESSION_LIFETIME"}


def console_section(console: dict | None, env) -> dict:
    """The `console` settings with defaults, each checked; unknown keys are refused."""
    given = section(console, "console")
    for key in given:
        if key not in DEFAULT_CONSOLE:
            raise ConfigError(f"console.{key}: unknown setting ({', '.join(DEFAULT_CONSOLE)})")
    for key, name in _ENV.items():
        if env.get(name):
            given[key] = env[name].strip()
    feed = given.get("feed", True)
    if not isinstance(feed, bool):
        raise ConfigError("console.feed: must be true or false")
    out = {"feed": feed}
    for key, default in DEFAULT_CONSOLE.items():
        if key == "feed":
            continue
        low, high = _LIMITS[key]
        out[key] = int(number(given.get(key, default), f"console.{key}", low, high, whole=True))
    return out
