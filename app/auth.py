"""Bearer tokens and roles for /api/v1: viewer < supervisor < admin."""
import hashlib
import hmac
import secrets
from flask import current_app, g, request

from app.errors import Forbidden, Unauthorized
from app.extensions import db
from app.models.token import ROLES, ApiToken

RANK = {role: i for i, role in enumerate(ROLES)}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(name: str, role: str) -> str:
    """Create a token, store its hash, return the plain token (shown once)."""
    if role not in RANK:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = "fscti_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(name=name, role=role, token_hash=hash_token(token)))
    db.session.commit()
    return token


def authenticate(header: str | None) -> tuple[str, str]:
    """Return (actor, role) for an Authorization header, or raise Unauthorized."""
    if not header or not header.startswith("Bearer "):
        raise Unauthorized("Authorization: Bearer <token> is required")
    token = header[7:].strip()
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
