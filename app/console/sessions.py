"""Console sign-in: an API token exchanged for a server-side session (kept in Redis).

The browser holds only a random session id in the `fscti_console` cookie (HttpOnly,
SameSite=Strict, Secure when the request came over HTTPS, directly or through the
`web.trusted_proxies` proxies). Redis holds `fscti:console:session:<sha256 of the id>` →
{actor, role, csrf, token}, expiring after `console.session_lifetime` seconds. Every request
re-checks that the API token it came from is still valid, so revoking the token ends the
session too. The token itself is only ever read from a POSTed form body, never from a URL.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from flask import current_app, g, request

from app.auth import RANK, authenticate, hash_token
from app.errors import Forbidden, Unauthorized
from app.extensions import db, redis_ext
from app.models.token import ApiToken

COOKIE = "fscti_console"
LOGIN_COOKIE = "fscti_console_login"   # the sign-in form's CSRF value (double submit)
CSRF_HEADER = "X-CSRF-Token"


def session_key(sid: str) -> str:
    return "fscti:console:session:" + hashlib.sha256(sid.encode()).hexdigest()


def lifetime() -> int:
    return int(current_app.config["FSCTI"].console["session_lifetime"])


def sign_in(token: str) -> tuple[str, dict]:
    """(session id, session) for a valid API token of role viewer or above, else Unauthorized."""
    actor, role = authenticate(f"Bearer {token}")
    sid = secrets.token_urlsafe(32)
    sess = {"actor": actor, "role": role, "csrf": secrets.token_urlsafe(24),
            "token": "" if actor == "bootstrap-admin" else hash_token(token.strip())}
    redis_ext.client.set(session_key(sid), json.dumps(sess), ex=lifetime())
    return sid, sess


def sign_out(sid: str | None) -> None:
    if sid:
        redis_ext.client.delete(session_key(sid))


def _token_valid(sess: dict) -> bool:
    if sess.get("actor") == "bootstrap-admin":
        return bool(current_app.config.get("FSCTI_ADMIN_TOKEN"))
    row = db.session.execute(db.select(ApiToken.role).filter_by(
        token_hash=sess.get("token") or "", revoked=False)).first()
    if row is None:
        return False
    sess["role"] = row[0]          # a token whose role changed acts with its new role
    return True


def current() -> dict | None:
    """The signed-in session of this request (also in g.console), or None."""
    if "console" in g:
        return g.console
    sid = request.cookies.get(COOKIE)
    sess = None
    if sid and len(sid) < 200:
        raw = redis_ext.client.get(session_key(sid))
        if raw:
            try:
                sess = json.loads(raw)
            except ValueError:
                sess = None
        if sess is not None and not _token_valid(sess):
            sign_out(sid)
            sess = None
    g.console = sess
    if sess:
        g.actor, g.role = sess["actor"], sess["role"]
    return sess


def require(minimum: str = "viewer", csrf: bool = False) -> dict:
    """The session, or Unauthorized / Forbidden; with `csrf`, the X-CSRF-Token header must match."""
    sess = current()
    if sess is None:
        raise Unauthorized("sign in at /console/login")
    if csrf:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), sess["csrf"].encode()):
            raise Forbidden("missing or wrong CSRF token (X-CSRF-Token)")
    if RANK[sess["role"]] < RANK[minimum]:
        raise Forbidden(f"this needs the {minimum} role; you are signed in as {sess['role']}")
    return sess


def can_act(sess: dict | None) -> bool:
    return bool(sess) and RANK[sess["role"]] >= RANK["supervisor"]


def set_cookie(response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Strict",
                        secure=request.is_secure, path="/console")
