"""The directory's read client: the hot path's Redis connection, configured per app.

The reader must fail in a fraction of a second (a FreeSWITCH SIP thread waits on it) and
retries once only, to survive an idle connection the server closed. The connection itself
(and its answer cache) is app.directory.hotconn; the mirror's write client is app.mirror.client.
"""
from flask import current_app

from app.directory.hotconn import HotConnection
from app.extensions import per_app

EXTENSION_KEY = "fscti-directory-redis"


class DirectoryRedis:
    """The hot-path reader of one app."""

    def __init__(self, app):
        settings = app.config["FSCTI"]
        timeout = float(getattr(settings, "directory_redis_timeout", 0.25) or 0.25)
        entries = settings.directory_cache_entries if settings.directory_cache else 0
        self.reader = HotConnection(app.config["REDIS_URL"], timeout, entries,
                                    settings.directory_cache_max_age)


def for_app(app=None) -> DirectoryRedis:
    """This app's read client (created on first use)."""
    return per_app(app or current_app._get_current_object(), EXTENSION_KEY, DirectoryRedis)
