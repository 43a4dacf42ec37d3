"""The app as production builds it, plus the directory benchmark's comparison endpoints.

bench/directory.py serves `bench.directory_app:create_app()` under the Procfile's gunicorn and
bench/directory_inproc.py calls it in-process; production code has none of these routes:
- /directory/raw-floor, answered by the directory's WSGI dispatch before Flask (as /directory
  is): read the body, parse the form, format one user; no Flask, no Redis, no guard;
- /directory/floor, a Flask route giving a constant answer of a typical answer's size;
- /directory/floor-ping, the Flask floor plus reading and parsing the body and one Redis PING
  on the hot connection: the ceiling of any endpoint with one Redis round trip;
- /directory/via-flask, /directory's own answer through its Flask route.
"""
from flask import Response, current_app, request

from app import create_app as create_production_app
from app.directory import views, xml
from app.directory.form import parse
from app.directory.lookup import directory
from app.directory.wsgi import DirectoryDispatch
from app.models.domain import DEFAULT_DIAL_STRING

METHODS = ["POST", "GET"]
HEAD = xml.domain_open("127.0.0.1", {"param": {"dial-string": DEFAULT_DIAL_STRING}})
USER = {"param": {"password": "1234", "allow-empty-password": False},
        "variable": {"user_context": "default"}, "attribute": {"cacheable": "60000"}}
FLOOR = xml.document(HEAD, "1001", USER)


def raw_floor(environ, start_response):
    """What any Python answerer under this gunicorn costs at least."""
    q = parse(views.raw_form(environ) or b"")
    body = xml.document(HEAD, q.user or "1001", USER)
    start_response("200 OK", [("Content-Type", views.XML_TYPE), ("Content-Length", str(len(body)))])
    return [body]


def floor():
    """The framework floor: a constant answer through Flask."""
    return Response(FLOOR, 200, mimetype="text/xml")


def floor_ping():
    """The floor plus reading the body and one Redis PING on the hot connection."""
    parse(views.raw_form(request.environ) or b"")
    directory(current_app._get_current_object()).reader.execute_command("PING")
    return Response(FLOOR, 200, mimetype="text/xml")


def install(app) -> None:
    """Add the comparison endpoints to an app built by app.create_app."""
    dispatch = app.wsgi_app
    if not isinstance(dispatch, DirectoryDispatch):  # web.trusted_proxies wraps it
        dispatch = dispatch.app
    assert isinstance(dispatch, DirectoryDispatch), dispatch
    dispatch.routes["/directory/raw-floor"] = raw_floor
    app.add_url_rule("/directory/floor", "bench_floor", floor, methods=METHODS)
    app.add_url_rule("/directory/floor-ping", "bench_floor_ping", floor_ping, methods=METHODS)
    app.add_url_rule("/directory/via-flask", "bench_via_flask", views.directory, methods=METHODS)


def create_app(*args, **kwargs):
    """app.create_app(...) with the benchmark's endpoints installed."""
    app = create_production_app(*args, **kwargs)
    install(app)
    return app
