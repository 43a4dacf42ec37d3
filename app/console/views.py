"""/console: the live supervisor console (pages, its JSON calls, the event stream).

    GET  /console                      the console (the sign-in page when not signed in)
    GET  /console/login, POST          sign in with an API token (form body, never the URL)
    POST /console/logout               sign out (CSRF)
    GET  /console/stream?domain=       server-sent events: snapshot, then updates and ticks
    POST /console/api/calls/<uuid>/supervise   {supervisor, mode}       (supervisor, CSRF)
    POST /console/api/calls/<uuid>/hangup      {cause}                  (supervisor, CSRF)
    POST /console/api/supervisions/<id>/mode   {mode}                   (supervisor, CSRF)
    GET  /console/api/actions/<id>             an action's progress      (supervisor)

The actions go through app/services/action.py, as /api/v1 does: the same checks, the same
Action rows, the same audit (the actor is the signed-in token, `token:<name>`).
"""
from __future__ import annotations

import hmac
import json
import secrets
import time

from flask import (Blueprint, Response, current_app, g, redirect, render_template, request,
                   stream_with_context)
from marshmallow import ValidationError

from app.console import model, sessions
from app.console.hub import hub
from app.console.supervisions import supervisions
from app.errors import BadRequest, Unauthorized, Unavailable, ValidationFailed
from app.extensions import db, redis_ext
from app.names import is_domain
from app.schemas.action import HangupIn, ModeIn, SuperviseIn
from app.services import action as svc
from app.services import audit
from app.state import keys
from app.supervision import MODES

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")

HEARTBEAT_SECONDS = 15.0
_AUDITED = {"console.supervise": "supervise", "console.hangup": "hangup",
            "console.switch_mode": "mode"}


@bp.after_request
def _headers(response):
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
    what = _AUDITED.get(request.endpoint or "")
    if what and response.status_code in (400, 404, 409, 422) and getattr(g, "actor", None):
        try:
            body = json.loads(response.get_data())
            message = body.get("message", "")
        except (ValueError, AttributeError):
            message = ""
        args = request.view_args or {}
        audit.record(g.actor, what, args.get("uuid") or args.get("supervision_id"), None,
                     {"path": request.path, "via": "console",
                      "body": request.get_data(cache=True).decode("utf-8", "replace")[:2000]},
                     f"rejected: {response.status_code} {message}")
    return response


# --- sign-in -------------------------------------------------------------------------------

def _login_page(error: str | None = None, status: int = 200):
    value = secrets.token_urlsafe(24)
    resp = Response(render_template("console/login.html", error=error, csrf=value), status)
    sessions.set_cookie(resp, sessions.LOGIN_COOKIE, value, 600)
    return resp


@bp.get("/login")
def login_form():
    return _login_page()


@bp.post("/login")
def login():
    sent = request.form.get("csrf", "")
    expected = request.cookies.get(sessions.LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _login_page("The sign-in form expired; try again.", 403)
    token = request.form.get("token", "")
    if not token.strip() or len(token) > 512:
        return _login_page("Enter an API token.", 400)
    try:
        sid, _ = sessions.sign_in(token)
    except Unauthorized:
        return _login_page("Unknown or revoked token.", 401)
    resp = redirect("/console", 303)
    sessions.set_cookie(resp, sessions.COOKIE, sid, sessions.lifetime())
    resp.delete_cookie(sessions.LOGIN_COOKIE, path="/console")
    return resp


@bp.post("/logout")
def logout():
    sess = sessions.current()
    sent = request.form.get("csrf", "") or request.headers.get(sessions.CSRF_HEADER, "")
    if sess is not None and hmac.compare_digest(sent.encode(), sess["csrf"].encode()):
        sessions.sign_out(request.cookies.get(sessions.COOKIE))
    resp = redirect("/console/login", 303)
    resp.delete_cookie(sessions.COOKIE, path="/console")
    return resp


# --- the page ------------------------------------------------------------------------------

@bp.get("")
@bp.get("/")
def index():
    sess = sessions.current()
    if sess is None:
        return redirect("/console/login", 303)
    names = model.domains(redis_ext.client)
    domain = request.args.get("domain") or (names[0] if names else "")
    if domain and not is_domain(domain):
        raise BadRequest("invalid query", {"domain": ["not a valid domain name"]})
    return render_template("console/index.html", sess=sess, domains=names, domain=domain,
                           can_act=sessions.can_act(sess), modes=list(MODES))


# --- the stream ----------------------------------------------------------------------------

def _sse(event: str, data: str, ident: str | None = None) -> str:
    head = f"event: {event}\n" + (f"id: {ident}\n" if ident is not None else "")
    return head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


def _snapshot_event(domain: str) -> str:
    client = redis_ext.client
    settings = current_app.config["FSCTI"]
    seq = int(client.get(keys.console_seq(domain)) or 0)
    snap = model.snapshot(client, domain, settings.console["max_extensions"])
    snap.update(now=model.fs_now(client, settings), seq=seq,
                sups=supervisions(client, domain))
    return _sse("snapshot", json.dumps(snap, separators=(",", ":")), str(seq))


def _streaming_server() -> bool:
    env = request.environ
    return bool(env.get("wsgi.multithread") or current_app.config.get("CONSOLE_STREAM_ANYWHERE")
                or "gevent" in str(env.get("SERVER_SOFTWARE", "")).lower())


@bp.get("/stream")
def stream():
    sessions.require("viewer")
    domain = request.args.get("domain", "")
    if not is_domain(domain):
        raise BadRequest("invalid query", {"domain": ["not a valid domain name"]})
    if not _streaming_server():
        raise Unavailable("the console's stream is served by the `console` process (threads); "
                          "this process has sync workers (docs/console.md)")
    last = request.headers.get("Last-Event-ID", "")
    # A stream lasts for hours: it must not keep a pooled SQL connection checked out.
    db.session.close()
    the_hub = hub(current_app._get_current_object())
    watcher = the_hub.attach(domain)
    lifetime_end = time.monotonic() + sessions.lifetime()

    def events():
        try:
            seq = int(redis_ext.client.get(keys.console_seq(domain)) or 0)
            if last.isdigit() and int(last) == seq:
                # Nothing changed since the browser's last message: just go on.
                yield _sse("resumed", json.dumps({"seq": seq}), str(seq))
            else:
                yield _sse("hello", "{}") + _snapshot_event(domain)
            beat = time.monotonic() + HEARTBEAT_SECONDS
            while time.monotonic() < lifetime_end:
                if watcher.stale:
                    watcher.stale = False
                    while not watcher.queue.empty():
                        watcher.queue.get_nowait()
                    yield _snapshot_event(domain)
                try:
                    event, ident, data = watcher.queue.get(timeout=1.0)
                except Exception:
                    if time.monotonic() > beat:
                        beat = time.monotonic() + HEARTBEAT_SECONDS
                        yield ": keep-alive\n\n"
                    continue
                yield _sse(event, data, ident)
            yield _sse("expired", "{}")
        finally:
            the_hub.detach(watcher)

    return Response(stream_with_context(events()), mimetype="text/event-stream", headers={
        "Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# --- actions -------------------------------------------------------------------------------

def _body(schema):
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    try:
        return schema().load(data)
    except ValidationError as exc:
        raise ValidationFailed("invalid input: see details", exc.messages) from None


def _accepted(action):
    return svc.action_view(action), 202


def _poke(domain: str | None) -> None:
    if domain:
        hub(current_app._get_current_object()).poke(domain)


@bp.post("/api/calls/<uuid>/supervise")
def supervise(uuid):
    sess = sessions.require("supervisor", csrf=True)
    data = _body(SuperviseIn)
    action = svc.supervise(sess["actor"], uuid, data["supervisor"], data["mode"],
                           data["domain"], data["dtmf"], data["node"])
    _poke((action.params or {}).get("domain"))
    return _accepted(action)


@bp.post("/api/calls/<uuid>/hangup")
def hangup(uuid):
    sess = sessions.require("supervisor", csrf=True)
    data = _body(HangupIn)
    return _accepted(svc.hangup(sess["actor"], uuid, data["cause"], data["node"]))


@bp.post("/api/supervisions/<supervision_id>/mode")
def switch_mode(supervision_id):
    sess = sessions.require("supervisor", csrf=True)
    data = _body(ModeIn)
    action = svc.switch_mode(sess["actor"], supervision_id, data["mode"])
    return _accepted(action)


@bp.get("/api/actions/<action_id>")
def get_action(action_id):
    sessions.require("supervisor")
    return svc.action_view(svc.get_action(action_id))


