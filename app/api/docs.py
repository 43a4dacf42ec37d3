"""/docs/assets/<file>: Swagger UI for /docs, served by fscti itself (no CDN, works offline).

The files are swagger-ui-dist's, as shipped by the pinned flask-swagger-ui package
(pyproject.toml); their licence (Apache-2.0) is served beside them at /docs/assets/LICENSE.
/docs itself is flask-smorest's page; it gets a Content-Security-Policy that lets it load
scripts, styles and data only from this origin, so no third-party script ever runs on the
page where admins paste their tokens.
"""
from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, abort, send_from_directory

bp = Blueprint("docs_assets", __name__)

DIST = Path(flask_swagger_ui.__file__).parent / "dist"
# What the page loads, plus the licence. Relative to /docs, so a path prefix keeps working.
SWAGGER_UI_ASSETS = "docs/assets/"
FILES = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript",
         "swagger-ui-standalone-preset.js": "text/javascript", "LICENSE": "text/plain",
         "VERSION": "text/plain"}
DOCS_BLUEPRINT = "api-docs"  # flask-smorest's blueprint of /docs and /openapi.json
# The page's own inline start-up script needs 'unsafe-inline'; nothing else leaves the origin.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
       "frame-ancestors 'none'")


@bp.get("/docs/assets/<name>")
def asset(name: str):
    """One Swagger UI file."""
    if name not in FILES:
        abort(404)
    return send_from_directory(DIST, name, mimetype=FILES[name], max_age=86400)


@bp.after_request
def _policy(response):
    response.headers["Content-Security-Policy"] = CSP
    return response


def protect_docs(app) -> None:
    """The same policy on flask-smorest's /docs and /openapi.json (its blueprint's hook only:
    the other routes, /directory first, pay nothing)."""
    app.after_request_funcs.setdefault(DOCS_BLUEPRINT, []).append(_policy)
