"""The mirror's Redis client, with the timeouts and retries its writes need.

redis-py's default retries a failed connection ten times with backoff (seconds of stalling when
Redis is down). The mirror writes right after an API commit, so it gets a few seconds for big
batches and retries once, immediately, to survive an idle connection the server closed.
"""
import redis
from flask import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

from app import redis_client
from app.extensions import per_app

WRITER_TIMEOUT = 5.0
EXTENSION_KEY = "fscti-mirror-redis"


def make_client(url: str, timeout: float) -> redis.Redis:
    """A decoded-responses client that gives up after `timeout` and one immediate retry."""
    return redis_client.client(
        url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1), health_check_interval=0)


class MirrorRedis:
    """The mirror's write client of one app."""

    def __init__(self, app):
        self.writer = make_client(app.config["REDIS_URL"], WRITER_TIMEOUT)


def for_app(app=None) -> MirrorRedis:
    """This app's mirror client (created on first use)."""
    return per_app(app or current_app._get_current_object(), EXTENSION_KEY, MirrorRedis)


def writer() -> redis.Redis:
    """The mirror's write client for the current app."""
    return for_app().writer
