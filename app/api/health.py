"""Liveness and readiness probes (/healthz, /readyz) and the detail view GET /api/v1/health.

/readyz is what a load balancer asks: 503 only when this web cannot serve (SQL or Redis does
not answer); a broker, listener or FreeSWITCH node that is not well makes it `degraded` (200),
so that one dead node never takes every web out of the pool. The detail view adds the
queue depths, behind a token (viewer). docs/operations.md explains each field.
"""
import os
import time

from flask import Blueprint, current_app, jsonify
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import Schema, fields

from app.auth import require_role
from app.schemas.health import HealthDetailOut, ReadyOut
from app.services import health

bp = Blueprint("health", __name__)
blp = ApiBlueprint("health-api", __name__, url_prefix="/api/v1", description=(
    "What runs and what does not: SQL, Redis, the broker and its queues, the listener's "
    "heartbeat, and each FreeSWITCH node's event connection, last event and last resync."))


class HealthOut(Schema):
    status = fields.Constant("ok")


def _report(with_queues: bool) -> tuple[dict, bool]:
    settings = current_app.config["FSCTI"]
    checks = {"sql": health.sql(), "redis": health.redis()}
    checks["broker"], queues = health.broker(current_app.extensions["celery"])
    nodes = health.nodes(settings) if checks["redis"] == "ok" else []
    bad = [n["listener"] for n in nodes if n["listener"] != "ok"]
    checks["listener"] = (bad[0] if bad else "ok") if checks["redis"] == "ok" else "unknown"
    serving = checks["sql"] == "ok" and checks["redis"] == "ok"
    well = (serving and checks["broker"] == "ok" and checks["listener"] == "ok"
            and all(n["esl"] == "up" for n in nodes))
    report = {"status": "ok" if well else ("degraded" if serving else "unavailable"),
              "checks": checks, "nodes": nodes}
    if with_queues:
        report.update(queues=queues, pid=os.getpid(), time=time.time())
    return report, serving


@bp.get("/healthz")
def healthz():
    """The process is up."""
    return jsonify(HealthOut().dump({}))


@bp.get("/readyz")
def readyz():
    """Ready when SQL and Redis answer; the rest of the picture in `checks` and `nodes`."""
    report, serving = _report(with_queues=False)
    return jsonify(ReadyOut().dump(report)), (200 if serving else 503)


@blp.route("/health")
@require_role("viewer")
@blp.response(200, HealthDetailOut)
@blp.alt_response(503, schema=HealthDetailOut,
                  description="SQL or Redis does not answer (`checks` says which)")
def health_detail():
    """Every dependency and every FreeSWITCH node, with the broker's queue depths."""
    report, serving = _report(with_queues=True)
    if not serving:
        return report, 503
    return report
