"""The directory's own Redis clients, with timeouts and retries chosen for their callers.

redis-py's default retries a failed connection ten times with backoff (seconds of stalling when
Redis is down). The hot-path reader must fail in a fraction of a second (a FreeSWITCH SIP thread
waits on it) and retries once only, to survive an idle connection the server closed; the mirror
writer gets a few seconds for big batches and also retries once. The hot connection itself
(and its answer cache) is in app.directory.hotconn.
"""
import redis
from flask import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.directory.hotconn import HotConnection, bulk, pack  # noqa: F401  (re-exported)

WRITER_TIMEOUT = 5.0
EXTENSION_KEY = "fscti-directory-redis"


def make_client(url: str, timeout: float) -> redis.Redis:
    """A decoded-responses client that gives up after `timeout` and one immediate retry."""
    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1), health_check_interval=0)


class DirectoryRedis:
    """The reader (hot path) and writer (mirror) clients of one app."""

    def __init__(self, app):
        url = app.config["REDIS_URL"]
        settings = app.config["FSCTI"]
        timeout = float(getattr(settings, "directory_redis_timeout", 0.25) or 0.25)
        entries = settings.directory_cache_entries if settings.directory_cache else 0
        self.reader = HotConnection(url, timeout, entries, settings.directory_cache_max_age)
        self.writer = make_client(url, WRITER_TIMEOUT)


def for_app(app=None) -> DirectoryRedis:
    """This app's clients (created on first use)."""
    app = app or current_app._get_current_object()
    clients = app.extensions.get(EXTENSION_KEY)
    if clients is None:
        clients = app.extensions[EXTENSION_KEY] = DirectoryRedis(app)
    return clients


def writer() -> redis.Redis:
    """The mirror's write client for the current app."""
    return for_app().writer
