"""/cli: the mod_cti httpcli-compatible gateway (`GET|POST /cli?key=…&cmd=…&arg=…[&node=…]`).

Outside /api/v1, with its own key check (`cli.keys` / FSCTI_CLI_KEYS). Replies are
FreeSWITCH's text; the gateway's own refusals are text too, starting with `-ERR fscti:`.
What is parsed and how each request is rebuilt: app/services/gateway.py.
"""
import logging

from flask import Blueprint, Response, current_app, request

from app.services import audit
from app.services.gateway import (GatewayError, check_text, execute, key_id, key_matches, plan,
                                  route, server_time)

log = logging.getLogger("fscti.cli")

bp = Blueprint("cli_gateway", __name__)


def _text(status: int, body: str) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def _refusal(status: int, message: str) -> Response:
    return _text(status, f"-ERR fscti: {message}\n")


@bp.route("/cli", methods=["GET", "POST"])
def cli():
    """Run one allowed FreeSWITCH command for a caller holding a gateway key."""
    settings = current_app.config["FSCTI"]
    values = request.values
    if not settings.cli_keys:
        return _refusal(403, "the /cli gateway is disabled: no cli.keys are configured")
    key = values.get("key", "")
    if not key:
        return _refusal(401, "key is required")
    if not key_matches(key, settings.cli_keys):
        # Not written to SQL: unauthenticated callers must not be able to fill the audit.
        log.warning("/cli: invalid key from %s", request.remote_addr)
        return _refusal(401, "invalid key")
    actor = key_id(key)
    cmd, arg, node = values.get("cmd", ""), values.get("arg", ""), values.get("node") or None
    detail = {"cmd": cmd, "arg": arg, "ip": request.remote_addr}
    try:
        if not cmd:
            raise GatewayError("cmd is required")
        if node:
            check_text("node", node)
        p = plan(cmd, arg, settings.cli_commands)
        if p.command == "strmicroepoch" and not p.background:
            node_name, text, job = *server_time(node), None
        else:
            target = route(p, node)
            node_name = target.name
            text, job = execute(p, target)
    except GatewayError as exc:
        outcome = "failed" if exc.status >= 500 else "rejected"
        audit.record(actor, f"cli:{cmd}", None, node, detail,
                     f"{outcome}: {exc.status} {exc.message}")
        return _refusal(exc.status, exc.message)
    detail.update(command=f"{'bgapi' if p.background else 'api'} {p.command}", job_uuid=job)
    audit.record(actor, f"cli:{cmd}", p.target_uuid, node_name, detail,
                 "replied: " + (text.strip().splitlines() or [""])[0])
    return _text(200, text)
