"""Bearer tokens and roles for /api/v1: viewer < supervisor < admin."""
import hashlib
import hmac
import re
import secrets

from flask import current_app, g, request
from sqlalchemy.exc import IntegrityError

from app.errors import Forbidden, Unauthorized
from app.extensions import db
from app.models.token import ROLES, ApiToken

RANK = {role: i for i, role in enumerate(ROLES)}
# What `flask tokens list`, the audit (`token:<name>`) and a log line can show as is.
TOKEN_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_token_name(name: str) -> str:
    """`name` if it can name a token, else ValueError saying what is allowed."""
    if not isinstance(name, str) or not TOKEN_NAME_RE.fullmatch(name):
        raise ValueError("a token name is 1-64 characters: letters, digits and _ . @ + -, "
                         "starting with a letter or digit")
    return name


def _new_value() -> tuple[str, str]:
    token = "fscti_" + secrets.token_urlsafe(32)
    return token, hash_token(token)


def create_token(name: str, role: str) -> str:
    """Create a token, store its hash, return the plain token (shown once)."""
    if role not in RANK:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    check_token_name(name)
    exists = f"a token named {name!r} exists (revoked ones keep their names): pick another name"
    if db.session.execute(db.select(ApiToken.id).filter_by(name=name)).first() is not None:
        raise ValueError(exists)
    token, digest = _new_value()
    db.session.add(ApiToken(name=name, role=role, token_hash=digest))
    try:
        db.session.commit()
    except IntegrityError:  # created meanwhile by another process
        db.session.rollback()
        raise ValueError(exists) from None
    return token


def reissue_token(name: str, role: str) -> str:
    """A new value for the token `name` (created if absent), active with `role`; the old value
    stops working. Returns the plain token."""
    row = db.session.execute(db.select(ApiToken).filter_by(name=name)).scalar_one_or_none()
    if row is None:
        return create_token(name, role)
    token, row.token_hash = _new_value()
    row.role, row.revoked = role, False
    db.session.commit()
    return token


def authenticate(header: str | None) -> tuple[str, str]:
    """Return (actor, role) for an Authorization header, or raise Unauthorized."""
    # The scheme is case-insensitive (RFC 7235 §2.1): `bearer x` is `Bearer x`.
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("Authorization: Bearer <token> is required")
    token = token.strip()
    if not token:
        raise Unauthorized("empty bearer token")
    bootstrap = current_app.config.get("FSCTI_ADMIN_TOKEN") or ""
    if bootstrap and hmac.compare_digest(token.encode(), bootstrap.encode()):
        return "bootstrap-admin", "admin"
    row = db.session.execute(
        db.select(ApiToken).filter_by(token_hash=hash_token(token), revoked=False)
    ).scalar_one_or_none()
    if row is None:
        raise Unauthorized("unknown or revoked token")
    return f"token:{row.name}", row.role


def require_role(minimum: str):
    """Mark an API view (function or MethodView method) with the least role it needs.

    Enforcement is in `enforce()`, which every /api/v1 blueprint runs before each request, so a
    view without a mark is not open: it needs `admin`.
    """
    if minimum not in RANK:
        raise ValueError(minimum)

    def deco(fn):
        fn._fscti_role = minimum
        return fn

    return deco


def view_role(view, method: str) -> str:
    """The role a view function (or a MethodView's method) asks for (admin when unmarked)."""
    cls = getattr(view, "view_class", None)
    if cls is not None:
        view = getattr(cls, method.lower(), None)
    while view is not None and not hasattr(view, "_fscti_role") and hasattr(view, "__wrapped__"):
        view = view.__wrapped__
    return getattr(view, "_fscti_role", "admin")


def required_role() -> str:
    """The role the current request's view asks for (admin when unmarked)."""
    return view_role(current_app.view_functions.get(request.endpoint), request.method)


def enforce():
    """before_request hook of the API blueprints: authenticate and check the role."""
    if request.method == "OPTIONS":
        return None
    actor, role = authenticate(request.headers.get("Authorization"))
    needed = required_role()
    if RANK[role] < RANK[needed]:
        raise Forbidden(f"this needs the {needed} role; your token has {role}")
    g.actor, g.role = actor, role
    return None
