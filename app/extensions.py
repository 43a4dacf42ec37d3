"""Each Flask extension is created once here and bound in create_app()."""
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


class RedisExtension:
    """One redis-py client (with hiredis) per process, from REDIS_URL."""

    def __init__(self):
        self.url = None
        self._client = None

    def init_app(self, app):
        self.url = app.config["REDIS_URL"]
        self._client = None
        app.extensions["fscti-redis"] = self

    @property
    def client(self):
        import redis

        if self._client is None:
            self._client = redis.Redis.from_url(
                self.url, decode_responses=True, socket_connect_timeout=1.0, socket_timeout=2.0,
                health_check_interval=30)
        return self._client


redis_ext = RedisExtension()
