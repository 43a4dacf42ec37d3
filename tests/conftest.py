"""Shared fixtures: a real SQL database (SQLite, or TEST_DATABASE_URL) and a real Redis.

The schema is built by the Alembic migrations once per run; every test starts with empty
tables and an empty Redis database (TEST_REDIS_URL, default db 15; the Celery broker of the
integration tests uses the next database down, or TEST_BROKER_URL, so flushing data never drops
queued tasks).
"""
import os
import tempfile
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import inspect, text

from app import create_app
from app.config import Settings
from app.extensions import db, redis_ext

FIXTURES = Path(__file__).parent / "fixtures"
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
pytest_plugins = ["pytester"]        # tests/unit/test_timeout.py runs a small suite in-process


def pytest_configure(config):
    from tests.support import process_guard

    process_guard.install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Setup, call and teardown of a test without the `integration` mark start no process
    (tests/support/process_guard.py)."""
    from tests.support import process_guard

    process_guard.watching(item)
    try:
        return (yield)
    finally:
        process_guard.done()


def _broker_url(redis_url: str) -> str:
    from tests.eslpeer.procs import broker_url

    return broker_url(redis_url)


def _result_backend(redis_url: str) -> str:
    """Task results stay on Redis (the broker's database) even with TEST_BROKER_URL=amqp://..."""
    from tests.eslpeer.procs import broker_url

    return broker_url(redis_url, explicit=False)


def _database_url(tmp: Path) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp / 'fscti-test.db'}"


@pytest.fixture(scope="session")
def tmp_root():
    with tempfile.TemporaryDirectory(prefix="fscti-test-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def settings(tmp_root) -> Settings:
    if TEST_REDIS_URL.rstrip("/").rpartition("/")[2] in ("", "0"):
        pytest.exit(f"TEST_REDIS_URL={TEST_REDIS_URL}: the suite empties this database; "
                    "database 0 is REDIS_URL's default, pick another (e.g. /15)", returncode=2)
    s = Settings.load(env={})
    s.database_url = _database_url(tmp_root)
    s.redis_url = TEST_REDIS_URL
    s.celery_broker_url = _broker_url(TEST_REDIS_URL)
    s.celery_result_backend = _result_backend(TEST_REDIS_URL)
    s.admin_token = "test-bootstrap-admin-token"
    return s


@pytest.fixture(scope="session")
def app(settings):
    app = create_app(settings, TESTING=True)
    with app.app_context():
        _reset_schema()
        import flask_migrate

        flask_migrate.upgrade()
    yield app


def _reset_schema():
    """Drop whatever an earlier run left in the test database."""
    engine = db.engine
    meta = db.metadata
    with engine.begin() as conn:
        meta.drop_all(conn)
        if inspect(conn).has_table("alembic_version"):
            conn.execute(text("DROP TABLE alembic_version"))


@pytest.fixture(scope="session")
def redis_url(settings):
    return settings.redis_url


@pytest.fixture
def rdb(app):
    """The real Redis the app uses (decoded responses)."""
    with app.app_context():
        return redis_ext.client


@pytest.fixture(autouse=True)
def _clean_state(request, settings):
    """Empty tables and Redis db before each test; the emptied db starts a data generation (as
    `flask mirror rebuild` does), so a listener does not take it for a Redis that lost its data."""
    from app.state import generation

    test_redis = redis_lib.Redis.from_url(settings.redis_url)
    test_redis.flushdb()
    generation.stamp(test_redis)
    if "app" in request.fixturenames or _uses_app(request):
        app = request.getfixturevalue("app")
        with app.app_context():
            db.session.remove()
            with db.engine.begin() as conn:
                for table in reversed(db.metadata.sorted_tables):
                    conn.execute(table.delete())
    yield


def _uses_app(request) -> bool:
    names = set(request.fixturenames)
    return bool(names & {"client", "app_ctx", "admin", "rdb"})


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(app):
    """One token per role: {"admin": headers, "supervisor": headers, "viewer": headers}."""
    from tests.support.factories import token

    with app.app_context():
        return {role: token(role) for role in ("admin", "supervisor", "viewer")}


@pytest.fixture
def admin(tokens):
    return tokens["admin"]
