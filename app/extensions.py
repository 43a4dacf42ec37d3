"""Each Flask extension is created once here and bound in create_app()."""
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


class _AppRedis:
    """The lazily created redis-py client (with hiredis) of one app."""

    def __init__(self, url: str):
        self.url = url
        self._client = None

    @property
    def client(self):
        from redis.backoff import ConstantBackoff
        from redis.retry import Retry

        if self._client is None:
            # One quick retry at most: a dead Redis must fail an API call in about a second
            # (SQL is the truth; the mirror repairs itself), not stall it on redis-py's default
            # exponential retries.
            from app import redis_client

            self._client = redis_client.client(
                self.url, decode_responses=True, socket_connect_timeout=1.0, socket_timeout=2.0,
                health_check_interval=30, retry=Retry(ConstantBackoff(0.05), 1))
        return self._client


class RedisExtension:
    """REDIS_URL's client for the current app (each app built by create_app has its own)."""

    def __init__(self):
        self._default = None

    def init_app(self, app):
        holder = _AppRedis(app.config["REDIS_URL"])
        app.extensions["fscti-redis"] = holder
        if self._default is None:
            self._default = holder

    def _holder(self) -> _AppRedis:
        from flask import current_app, has_app_context

        if has_app_context():
            return current_app.extensions["fscti-redis"]
        if self._default is None:
            raise RuntimeError("redis_ext used before create_app()")
        return self._default

    @property
    def url(self) -> str:
        return self._holder().url

    @property
    def client(self):
        return self._holder().client


redis_ext = RedisExtension()


def per_app(app, key: str, factory):
    """`app`'s one instance of `factory(app)`, created on first use and kept in app.extensions."""
    found = app.extensions.get(key)
    if found is None:
        found = app.extensions[key] = factory(app)
    return found
