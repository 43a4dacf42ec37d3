"""Liveness and readiness probes."""
from flask import Blueprint, jsonify
from sqlalchemy import text

from app.extensions import db, redis_ext

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """SQL and Redis are reachable."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["sql"] = "ok"
    except Exception as exc:  # any driver error means not ready
        db.session.rollback()
        checks["sql"] = f"error: {type(exc).__name__}"
    try:
        redis_ext.client.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), (200 if ok else 503)
