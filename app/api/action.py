"""/api/v1 supervisor actions: supervise (listen/whisper/barge), switch mode, hang up; each 202.

The action runs on a Celery worker (queue `actions`); GET /api/v1/actions/<id> follows it.
Rejected requests are audited too (who tried what on which call, and why it was refused).
"""
import json

from flask import g, request
from flask_smorest import Blueprint

from app.api.responses import check_json_body
from app.auth import require_role
from app.schemas.action import (ActionAccepted, ActionOut, HangupExtensionIn, HangupIn, ModeIn,
                                SuperviseExtensionIn, SuperviseIn, action_href)
from app.services import action as svc
from app.services import audit

blp = Blueprint("actions", __name__, url_prefix="/api/v1", description=(
    "Supervisor actions on live calls, run by the workers: listen, whisper to the extension, "
    "whisper to the far end, barge (three-way), switch mode while supervising, force hang-up. "
    "Modes are named by who hears the supervisor. Each POST answers 202 with the action; "
    "GET /actions/<id> gives its state and FreeSWITCH's reply."))

# Endpoint → what the audit calls a refused request.
_AUDITED = {"actions.supervise": "supervise", "actions.supervise_extension": "supervise",
            "actions.switch_mode": "mode", "actions.hangup": "hangup",
            "actions.hangup_extension": "hangup"}


@blp.before_request
def _body_is_json_or_empty():
    # An empty body means "no options" (e.g. a hang-up without a cause).
    if request.method == "POST" and not request.get_data(cache=True).strip():
        return None
    return check_json_body()


@blp.after_request
def _audit_refusals(response):
    what = _AUDITED.get(request.endpoint or "")
    if what and response.status_code in (400, 404, 409, 422) and getattr(g, "actor", None):
        args = request.view_args or {}
        target = args.get("uuid") or args.get("supervision_id") or (
            f"{args.get('ext')}@{args.get('domain')}" if "ext" in args else None)
        try:
            body = json.loads(response.get_data())
            message, details = body.get("message", ""), json.dumps(body.get("details", {}))
        except (ValueError, AttributeError):
            message, details = "", ""
        audit.record(g.actor, what, target, None, {
            "path": request.path, "body": request.get_data(cache=True).decode("utf-8", "replace"),
            "details": details}, f"rejected: {response.status_code} {message}")
    return response


BAD = "a name in the path is not valid (uuid, domain, extension), or the body is not JSON"
UNAVAILABLE = "no FreeSWITCH node is configured, or the task queue is unavailable"


def _accepted(action):
    """202, dumped by ActionAccepted; Location is the action to follow."""
    return action, 202, {"Location": action_href(action)}


@blp.route("/calls/<uuid>/supervise", methods=["POST"])
@require_role("supervisor")
@blp.arguments(SuperviseIn)
@blp.response(202, ActionAccepted)
@blp.alt_response(400, description=BAD)
@blp.alt_response(404, description="the call is not in the live state and `domain` (or, with "
                                   "several nodes, `node`) is missing; or `node` is unknown")
@blp.alt_response(409, description="the call has ended, is on a node not configured here, or "
                                   "the supervisor is the extension on it")
@blp.alt_response(503, description=UNAVAILABLE)
def supervise(data, uuid):
    """Ring the supervisor's phone into a supervision of this call (listen by default)."""
    return _accepted(svc.supervise(g.actor, uuid, data["supervisor"], data["mode"],
                                   data["domain"], data["dtmf"], data["node"]))


@blp.route("/domains/<domain>/extensions/<ext>/supervise", methods=["POST"])
@require_role("supervisor")
@blp.arguments(SuperviseExtensionIn)
@blp.response(202, ActionAccepted)
@blp.alt_response(400, description=BAD)
@blp.alt_response(404, description="the extension has no live call")
@blp.alt_response(409, description="the supervisor is the extension on the call")
@blp.alt_response(503, description=UNAVAILABLE)
def supervise_extension(data, domain, ext):
    """Supervise the extension's live call (its newest answered call)."""
    return _accepted(svc.supervise_extension(g.actor, domain, ext, data["supervisor"],
                                             data["mode"], data["dtmf"], data["domain"]))


@blp.route("/supervisions/<supervision_id>/mode", methods=["POST"])
@require_role("supervisor")
@blp.arguments(ModeIn)
@blp.response(202, ActionAccepted)
@blp.alt_response(400, description="the body is not JSON")
@blp.alt_response(404, description="no supervise action with this id")
@blp.alt_response(409, description="the supervisor has not answered yet, the supervision did "
                                   "not start, or a leg hung up")
@blp.alt_response(503, description=UNAVAILABLE)
def switch_mode(data, supervision_id):
    """Switch a running supervision (the id of its supervise action) to another mode."""
    return _accepted(svc.switch_mode(g.actor, supervision_id, data["mode"]))


@blp.route("/calls/<uuid>/hangup", methods=["POST"])
@require_role("supervisor")
@blp.arguments(HangupIn)
@blp.response(202, ActionAccepted)
@blp.alt_response(400, description=BAD)
@blp.alt_response(404, description="the call is unknown to the state, several nodes are "
                                   "configured and `node` is missing; or `node` is unknown")
@blp.alt_response(409, description="the call is on a node not configured here")
@blp.alt_response(503, description=UNAVAILABLE)
def hangup(data, uuid):
    """Force hang-up: uuid_kill the call's leg, then its signal_bond leg (asked from
    FreeSWITCH with uuid_getvar when the live state does not know it; a call unknown to the
    state is looked for on every node unless `node` is given)."""
    return _accepted(svc.hangup(g.actor, uuid, data["cause"], data["node"]))


@blp.route("/domains/<domain>/extensions/<ext>/hangup", methods=["POST"])
@require_role("supervisor")
@blp.arguments(HangupExtensionIn)
@blp.response(202, ActionAccepted)
@blp.alt_response(400, description=BAD)
@blp.alt_response(404, description="the extension has no live call")
@blp.alt_response(409, description="a call is on a node not configured here")
@blp.alt_response(503, description=UNAVAILABLE)
def hangup_extension(data, domain, ext):
    """Force hang-up of every live call of the extension (each with its signal_bond leg)."""
    return _accepted(svc.hangup_extension(g.actor, domain, ext, data["cause"]))


@blp.route("/actions/<action_id>", methods=["GET"])
@require_role("supervisor")
@blp.response(200, ActionOut)
def get_action(action_id):
    """An action's state and FreeSWITCH's reply."""
    return svc.action_view(svc.get_action(action_id))
