"""Supervisor actions, request side: find the target call and its node, validate, commit, enqueue.

Order (STYLE §3): every argument passes the whitelists and the command is built once (so bad
input is a 4xx now, never a failure later) → the Action row and its audit row are committed →
the Celery task is queued (queue `actions`). workers/tasks/actions.py runs it through
app/services/supervise_runner.py (a hang-up: hangup_runner.py), which rebuilds the command
from the stored parameters.

Which node: the one holding the call in the live state (D's `find_call`/`calls_of`); a
`node` given by the caller wins; a call the state does not know needs `node` unless only
one node is configured, except for a hang-up, whose worker then asks every node.
"""
from __future__ import annotations

import logging
import uuid as uuidlib

from flask import current_app

from app import tasknames
from app.errors import BadRequest, Conflict, NotFound, Unavailable, ValidationFailed
from app.esl import commands, supervisor_commands
from app.esl.command_types import InvalidArgument
from app.extensions import db
from app.models import Action
from app.names import is_domain, is_extension, is_uuid
from app.services import audit
from app.services.supervise_runner import settle
from app.services.supervision import mode_command, supervise_command
from app.supervision import MODES
from app.state.calls import calls_of, find_call

log = logging.getLogger("fscti.actions")

TASKS = {"supervise": tasknames.ACTIONS_SUPERVISE, "mode": tasknames.ACTIONS_MODE,
         "hangup": tasknames.ACTIONS_HANGUP}
PENDING = ("queued", "retrying", "sending", "sent")


def _settings():
    return current_app.config["FSCTI"]


def check_uuid(uuid: str, what: str = "uuid") -> str:
    """A uuid from the URL, or 400 naming it."""
    if not is_uuid(uuid):
        raise BadRequest("invalid path", {what: ["not a FreeSWITCH uuid (lowercase 8-4-4-4-12 hex)"]})
    return uuid


def check_extension_path(domain: str, ext: str) -> None:
    """Domain and extension from the URL, or 400 naming the bad one."""
    errors = {}
    if not is_domain(domain):
        errors["domain"] = ["not a valid domain name"]
    if not is_extension(ext):
        errors["ext"] = ["not a valid extension name"]
    if errors:
        raise BadRequest("invalid path", errors)


def _node_for(call: dict | None, node: str | None) -> str:
    settings = _settings()
    if not settings.freeswitch:
        raise Unavailable("no FreeSWITCH node is configured")
    if node:
        if settings.node(node) is None:
            raise NotFound("unknown node", {"node": [
                f"not a configured FreeSWITCH node ({', '.join(n.name for n in settings.freeswitch)})"]})
        return node
    if call and call.get("node"):
        if settings.node(call["node"]) is None:
            raise Conflict(f"the call is on node {call['node']!r}, which is not configured here")
        return call["node"]
    if len(settings.freeswitch) == 1:
        return settings.freeswitch[0].name
    raise NotFound("the call is not in the live state; say which node holds it",
                   {"node": ["required when the call is unknown and several nodes are configured"]})


def _invalid(exc: InvalidArgument, field: str | None = None):
    return ValidationFailed("invalid input: see details", {field or exc.argument: [exc.reason]})


def _create(kind: str, actor: str, node: str, target_uuid: str | None, target: str,
            params: dict, sent: list[str], leg_uuid: str | None = None) -> Action:
    action = Action(id=str(uuidlib.uuid4()), kind=kind, state="queued", actor=actor, node=node,
                    target_uuid=target_uuid, leg_uuid=leg_uuid,
                    job_uuid=str(uuidlib.uuid4()) if kind == "supervise" else None)
    entry = audit.record(actor, kind, target, node, commit=False, result="queued",
                         detail={"action_id": action.id, **params})
    db.session.flush()
    action.params = dict(params, commands=sent, audit_id=entry.id)
    db.session.add(action)
    db.session.commit()
    _enqueue(action)
    return action


def _enqueue(action: Action) -> None:
    try:
        current_app.extensions["celery"].send_task(
            TASKS[action.kind], args=[action.id], retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.05, "interval_step": 0.1,
                          "interval_max": 0.2})
    except Exception as exc:  # the broker is down: say so now rather than leave it queued
        log.error("could not queue action %s (%s: %s)", action.id, type(exc).__name__, exc)
        action.state, action.error = "failed", f"could not queue the action: {exc}"[:500]
        audit.set_result(action.params.get("audit_id"), f"failed: {action.error}")
        db.session.commit()
        raise Unavailable("the task queue is unavailable; nothing was sent to FreeSWITCH",
                          {"action_id": action.id}) from exc


# --- supervise -----------------------------------------------------------------------------

def supervise(actor: str, uuid: str, supervisor: str, mode: str = "listen",
              domain: str | None = None, dtmf: bool = True, node: str | None = None) -> Action:
    """Ring `supervisor` into `mode` on call `uuid`; the Action (202) or a 4xx."""
    check_uuid(uuid)
    call = find_call(uuid)
    if call is not None and call["hungup"]:
        raise Conflict(f"call {uuid} has ended")
    domain = domain or (call or {}).get("domain")
    # Both refusals depend on the live state, not on the body alone: 404 and 409.
    if not domain:
        raise NotFound("the call is not in the live state; say the supervisor's domain",
                       {"domain": ["required when the call is not in the live state"]})
    if call is not None and call.get("extension") == supervisor and call.get("domain") == domain:
        raise Conflict("a supervisor cannot supervise their own call",
                       {"supervisor": ["is the extension on this call"]})
    node = _node_for(call, node)
    if mode not in MODES:
        raise ValidationFailed("invalid input: see details", {"mode": ["unknown mode"]})
    leg = str(uuidlib.uuid4())
    timeout = _settings().actions["originate_timeout"]
    try:
        cmd = supervise_command(mode, supervisor, domain, uuid, leg, timeout, dtmf)
    except InvalidArgument as exc:
        raise _invalid(exc, {"target_uuid": "uuid"}.get(exc.argument)) from exc
    params = {"mode": mode, "hears": MODES[mode].hears, "current_mode": mode,
              "supervisor": supervisor, "domain": domain, "dtmf": bool(dtmf), "timeout": timeout,
              "extension": (call or {}).get("extension")}
    return _create("supervise", actor, node, uuid, uuid, params, [f"bgapi {cmd}"], leg)


def supervise_extension(actor: str, domain: str, ext: str, supervisor: str, mode: str = "listen",
                        dtmf: bool = True, supervisor_domain: str | None = None) -> Action:
    """Supervise the extension's live call (the newest answered one, else the newest)."""
    check_extension_path(domain, ext)
    calls = calls_of(domain, ext)
    if not calls:
        raise NotFound(f"extension {ext}@{domain} has no live call")
    up = [c for c in calls if c["state"] in ("answer", "bridge")] or calls
    return supervise(actor, up[-1]["uuid"], supervisor, mode, supervisor_domain or domain, dtmf)


# --- mode switch ---------------------------------------------------------------------------

def switch_mode(actor: str, supervision_id: str, mode: str) -> Action:
    """Switch a running supervision to `mode` (the `eavesdrop-command` event to its leg)."""
    sup = db.session.get(Action, supervision_id) if is_uuid(supervision_id) else None
    if sup is None or sup.kind != "supervise":
        raise NotFound(f"no supervision {supervision_id}")
    if sup.state == "sent":
        settle(sup)
    if sup.state in PENDING:
        raise Conflict(f"the supervisor has not answered yet (state {sup.state}); try again "
                       f"once GET /api/v1/actions/{sup.id} says succeeded")
    if sup.state != "succeeded":
        raise Conflict(f"this supervision did not start: {sup.error}")
    leg = find_call(sup.leg_uuid)
    target = find_call(sup.target_uuid)
    if (leg is not None and leg["hungup"]) or (target is not None and target["hungup"]):
        raise Conflict("this supervision has ended (a leg hung up)")
    if mode not in MODES:
        raise ValidationFailed("invalid input: see details", {"mode": ["unknown mode"]})
    packet = mode_command(mode, sup.leg_uuid)
    params = {"supervision_id": sup.id, "mode": mode, "hears": MODES[mode].hears,
              "keys": MODES[mode].keys}
    return _create("mode", actor, sup.node, sup.target_uuid, sup.target_uuid, params,
                   [str(packet)], sup.leg_uuid)


# --- hangup --------------------------------------------------------------------------------

def _kills(calls: list[dict], cause: str | None) -> list[str]:
    """The commands a hang-up will send (what the worker must find out first included)."""
    sent = []
    for call in calls:
        uuid = call["uuid"]
        if call.get("node") is None:
            sent.append(f"api {commands.uuid_exists(uuid)}")
        if not call.get("bond"):
            sent.append(f"api {supervisor_commands.uuid_getvar(uuid, 'signal_bond')}")
        for leg in [uuid] + ([call["bond"]] if call.get("bond") else []):
            try:
                sent.append(f"api {supervisor_commands.uuid_kill(leg, cause)}")
            except InvalidArgument as exc:
                raise _invalid(exc, "cause" if exc.argument == "cause" else None) from exc
    return sent


def _leg(call: dict) -> dict:
    bond = call.get("signal_bond") or ""
    return {"uuid": call["uuid"], "bond": bond if is_uuid(bond) and bond != call["uuid"] else None,
            "node": call["node"]}


def hangup(actor: str, uuid: str, cause: str | None = None, node: str | None = None) -> Action:
    """Hang up call `uuid` and its signal_bond leg (the double uuid_kill).

    A bond the live state does not know is asked from FreeSWITCH by the worker
    (`uuid_getvar`); a call the state does not know, with several nodes and no `node`, is
    looked for on each node (`uuid_exists`) by the worker (app/services/hangup_runner.py).
    """
    check_uuid(uuid)
    call = find_call(uuid)
    if call is None and not node and len(_settings().freeswitch) > 1:
        node = None  # the worker finds the node holding it
    else:
        node = _node_for(call, node)
    leg = _leg(call) if call is not None else {"uuid": uuid, "bond": None}
    leg["node"] = node
    cause = cause.upper() if isinstance(cause, str) else None
    sent = _kills([leg], cause)
    params = {"cause": cause, "calls": [leg], "extension": (call or {}).get("extension"),
              "domain": (call or {}).get("domain")}
    return _create("hangup", actor, node, uuid, uuid, params, sent)


def hangup_extension(actor: str, domain: str, ext: str, cause: str | None = None) -> Action:
    """Hang up every live call of an extension, each with its signal_bond leg."""
    check_extension_path(domain, ext)
    calls = calls_of(domain, ext)
    if not calls:
        raise NotFound(f"extension {ext}@{domain} has no live call")
    legs = [_leg(c) for c in calls]
    for leg in legs:
        _node_for({"node": leg["node"]}, None)
    cause = cause.upper() if isinstance(cause, str) else None
    sent = _kills(legs, cause)
    params = {"cause": cause, "calls": legs, "extension": ext, "domain": domain}
    return _create("hangup", actor, legs[0]["node"], legs[0]["uuid"], f"{ext}@{domain}", params,
                   sent)


# --- read ----------------------------------------------------------------------------------

def get_action(action_id: str) -> Action:
    """An action by id, its result read from the BACKGROUND_JOB if it just arrived."""
    action = db.session.get(Action, action_id) if is_uuid(action_id) else None
    if action is None:
        raise NotFound(f"no action {action_id}")
    if action.state == "sent":
        settle(action)
    return action


def action_view(action: Action) -> dict:
    """The public shape of an action (GET /api/v1/actions/<id>)."""
    p = dict(action.params or {})
    view = {"id": action.id, "kind": action.kind, "state": action.state, "actor": action.actor,
            "node": action.node, "target_uuid": action.target_uuid, "job_uuid": action.job_uuid,
            "leg_uuid": action.leg_uuid, "reply": action.reply, "error": action.error,
            "created_at": action.created_at, "updated_at": action.updated_at,
            "commands": p.pop("commands", []), "params": p}
    if action.kind == "supervise" and action.state == "succeeded" and action.leg_uuid:
        leg = find_call(action.leg_uuid)
        view["live"] = None if leg is None else not leg["hungup"]
    return view
