"""The HTTP surface: one table of blueprints.

Every request under /api/v1 runs `auth.enforce` first (an app-wide hook, so no route can be
forgotten); /healthz, /readyz, /directory and /cli have their own checks.
"""
from flask import request

from app.api.docs import protect_docs
from app.auth import enforce

API_PREFIX = "/api/v1/"

# (module, attribute) of each /api/v1 blueprint, registered through flask-smorest.
API_BLUEPRINTS = [
    ("app.api.domain", "blp"),
    ("app.api.template", "blp"),
    ("app.api.extension", "blp"),
    ("app.api.registration", "blp"),
    ("app.api.call", "blp"),
    ("app.api.action", "blp"),
    ("app.api.audit", "blp"),
    ("app.api.time", "blp"),
    ("app.api.health", "blp"),
]

# Plain Flask blueprints outside /api/v1.
PLAIN_BLUEPRINTS = [
    ("app.api.health", "bp"),
    ("app.metrics.views", "bp"),
    ("app.directory.views", "bp"),
    ("app.api.httpcli", "bp"),
    ("app.api.docs", "bp"),
]


def _load(module: str, attr: str):
    import importlib

    return getattr(importlib.import_module(module), attr)


def register_blueprints(app, api):
    @app.before_request
    def _api_auth():
        if request.path.startswith(API_PREFIX):
            return enforce()
        return None

    for module, attr in API_BLUEPRINTS:
        api.register_blueprint(_load(module, attr))
    for module, attr in PLAIN_BLUEPRINTS:
        app.register_blueprint(_load(module, attr))
    api.document_plain_routes()
    protect_docs(app)
