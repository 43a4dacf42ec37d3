"""Supervise and mode-switch actions, worker side: claim the action, send its command, record
the outcome (each step of the row in app/services/action_state.py).

A supervise action is `sent` once FreeSWITCH accepted the bgapi; it ends when the job's
BACKGROUND_JOB result (listener → ingest → `keys.job_result`) is read by `settle()`, called
by the short `fscti.actions.settle` task and by GET /api/v1/actions/<id>. Commands are
rebuilt here from the stored, validated parameters by the whitelisted builders. The hang-up
runs in app/services/hangup_runner.py.
"""
from __future__ import annotations

import json
import logging
import time

from flask import current_app

from app.esl.errors import EslCommandError
from app.esl.pool import esl_pool
from app.extensions import db, redis_ext
from app.models import Action
from app.names import is_uuid
from app.services import action_state
from app.services.supervision import mode_command, supervise_command
from app.state import keys
from app.supervision import MODES

log = logging.getLogger("fscti.actions")


class NodeMissing(Exception):
    """The action's node is no longer in the configuration."""


def _settings():
    return current_app.config["FSCTI"]


def _node(action: Action):
    node = _settings().node(action.node or "")
    if node is None:
        raise NodeMissing(f"FreeSWITCH node {action.node!r} is not configured")
    return node


def _refused(node_missing: NodeMissing, action: Action) -> None:
    action_state.finish(action.id, (action.state,), "failed", None, str(node_missing))


# --- supervise ---------------------------------------------------------------------------

def start_supervise(action_id: str) -> Action | None:
    """Send the `bgapi originate` of a queued supervise action; the action if this call moved
    it (to `sent`, or to its end), else None."""
    action = action_state.claim(action_id, ("queued", "retrying"), "sending")
    if action is None:
        return _resume(action_id)
    p = action.params
    try:
        node = _node(action)
    except NodeMissing as exc:
        _refused(exc, action)
        return None
    cmd = supervise_command(p["mode"], p["supervisor"], p["domain"], action.target_uuid,
                            action.leg_uuid, p["timeout"], p.get("dtmf", True))
    try:
        esl_pool().bgapi(node, cmd, action.job_uuid)
        action_state.on_wire(action)
    except EslCommandError as exc:
        # The bgapi itself was refused (not the originate): permanent.
        reply = exc.reply.strip()
        return action_state.finish(action.id, ("sending",), "failed", reply, reply)
    params = dict(p, sent_at=time.time())
    return action_state.move_commit(action.id, ("sending",),
                                    {"state": "sent", "error": None, "params": params})


def _resume(action_id: str) -> Action | None:
    """A redelivered task finds `sending`: the worker before it died around the bgapi, which
    may or may not have gone out. Never originate twice: wait for a result as if sent; the
    deadline fails the action with a reason if none comes."""
    row = db.session.get(Action, action_id)
    if row is None or row.state != "sending":
        return None
    log.warning("action %s: redelivered while sending; waiting for a result, not resending",
                action_id)
    params = dict(row.params, sent_at=time.time(), resumed=True)
    return action_state.move_commit(action_id, ("sending",), {"state": "sent", "params": params})


def job_result(job_uuid: str | None, client=None) -> dict | None:
    """The first stored BACKGROUND_JOB result of a job (from D's ingest), or None yet."""
    if not job_uuid:
        return None
    raw = (client or redis_ext.client).lindex(keys.job_result(job_uuid), 0)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def settle(action: Action, client=None) -> bool:
    """End a `sent` supervise action from its BACKGROUND_JOB result; False if none yet."""
    if action.state != "sent":
        return action.state in action_state.FINAL
    job = job_result(action.job_uuid, client)
    if job is None:
        return False
    body = str(job.get("body") or "").strip()
    params = dict(action.params, answered_at=time.time())
    if body.startswith("+OK"):
        # `+OK <uuid of the new leg>`: our origination_uuid, unless FreeSWITCH chose another.
        leg = body[3:].strip()
        extra = {"leg_uuid": leg} if is_uuid(leg) else {}
        done = action_state.finish(action.id, ("sent",), "succeeded", body, None, params=params,
                                   **extra)
    else:
        # `-ERR <CAUSE>` (USER_NOT_REGISTERED, NO_ANSWER, USER_BUSY...) or `-USAGE`: final.
        reason = body[5:].strip() if body.startswith("-ERR ") else (body or "empty reply")
        done = action_state.finish(action.id, ("sent",), "failed", body, reason, params=params)
    db.session.refresh(action)
    return done is not None or action.state in action_state.FINAL


def expire(action: Action) -> bool:
    """Fail a `sent` supervise action whose result is overdue; True if it is now final."""
    if action.state != "sent":
        return action.state in action_state.FINAL
    cfg = _settings().actions
    waited = time.time() - float(action.params.get("sent_at") or 0)
    limit = int(action.params.get("timeout") or cfg["originate_timeout"]) + cfg["result_grace"]
    if waited < limit:
        return False
    action_state.finish(action.id, ("sent",), "failed", None,
            f"no BACKGROUND_JOB result from {action.node} within {limit:g}s (is the listener "
            f"running for that node?); the supervisor's call may still have been placed")
    db.session.refresh(action)
    return True


# --- mode switch -------------------------------------------------------------------------

def run_mode(action_id: str) -> Action | None:
    """Send the `eavesdrop-command` event to the supervisor's leg; record the new mode."""
    action = action_state.claim(action_id, ("queued", "retrying"), "running")
    if action is None:
        return None
    try:
        node = _node(action)
    except NodeMissing as exc:
        _refused(exc, action)
        return None
    mode = action.params["mode"]
    try:
        reply = esl_pool().sendevent(node, mode_command(mode, action.leg_uuid)).strip()
        action_state.on_wire(action)
    except EslCommandError as exc:
        reply = exc.reply.strip()
        return action_state.finish(action.id, ("running",), "failed", reply, reply)
    done = action_state.finish(action.id, ("running",), "succeeded", reply, None)
    parent = db.session.get(Action, action.params["supervision_id"])
    if parent is not None:
        parent.params = dict(parent.params, current_mode=mode, hears=MODES[mode].hears)
        db.session.commit()
    return done
