"""The Flask app factory: `create_app()` builds the app used by gunicorn (web), Celery
(worker/beat), the listener, the Flask CLI and the tests. Reached as `app.create_app` (app/__init__.py
imports this module only when asked, so processes that need no Flask app do not load it).
"""
import logging

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app import logs
from app.api.docs import SWAGGER_UI_ASSETS
from app.api.openapi import Api
from app.proxies import TrustedProxies
from app.config import PROJECT_ROOT, Settings

from app.extensions import db, migrate, redis_ext


def create_app(settings: Settings | None = None, **overrides) -> Flask:
    """Build the Flask app from settings (loaded from env and FSCTI_CONFIG by default)."""
    settings = settings or Settings.load()
    app = Flask(__name__)
    app.config.update(
        FSCTI=settings,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        REDIS_URL=settings.redis_url,
        FSCTI_ADMIN_TOKEN=settings.admin_token,
        JSON_SORT_KEYS=False,
        API_TITLE="fscti",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        # Swagger UI's files from the pinned flask-swagger-ui package, served by app.api.docs
        # (relative: /docs/assets/ under whatever prefix the app is mounted at).
        OPENAPI_SWAGGER_UI_URL=SWAGGER_UI_ASSETS,
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    _http_limits(app, settings)
    app.config.update(overrides)
    logs.configure(settings.log_level)
    if exposed := settings.directory_public_networks():
        logging.getLogger("fscti.directory").warning(
            "/directory serves SIP passwords to %s without credentials: set directory.credentials "
            "or limit directory.allow (docs/configuration.md)", ", ".join(exposed))

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    redis_ext.init_app(app)
    rest_api = Api(app)

    from app.errors import register_error_handlers
    from app.api import register_blueprints
    from app.celery_init import init_celery
    from app.cli import register_cli
    from app.console import register_console

    register_error_handlers(app)
    register_blueprints(app, rest_api)
    register_console(app)
    register_cli(app)
    init_celery(app)
    _wsgi_stack(app, settings)
    return app


def _http_limits(app: Flask, settings: Settings) -> None:
    """The `web` settings' body limit."""
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length


def _wsgi_stack(app: Flask, settings: Settings) -> None:
    """What runs before Flask: /directory's dispatch (app.directory.wsgi), and outside it
    X-Forwarded-* only when proxies are trusted (with none, no per-request work is added)."""
    from app.directory.wsgi import install

    install(app)
    if settings.trusted_proxies:
        app.wsgi_app = TrustedProxies(app.wsgi_app, settings.trusted_proxies)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record):
    """SQLite: enforce foreign keys; WAL so web, workers and beat can share the file."""
    if type(dbapi_conn).__module__.startswith("sqlite3"):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.close()
