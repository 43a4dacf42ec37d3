"""Liveness and readiness probes."""
from flask import Blueprint, jsonify
from marshmallow import Schema, fields
from sqlalchemy import text

from app.extensions import db, redis_ext

bp = Blueprint("health", __name__)


class HealthOut(Schema):
    status = fields.Constant("ok")


class ChecksOut(Schema):
    sql = fields.String(metadata={"description": "ok, or error: <exception class>"})
    redis = fields.String(metadata={"description": "ok, or error: <exception class>"})


class ReadyOut(Schema):
    status = fields.String(metadata={"enum": ["ok", "unavailable"]})
    checks = fields.Nested(ChecksOut)


@bp.get("/healthz")
def healthz():
    """The process is up."""
    return jsonify(HealthOut().dump({}))


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
    body = ReadyOut().dump({"status": "ok" if ok else "unavailable", "checks": checks})
    return jsonify(body), (200 if ok else 503)
