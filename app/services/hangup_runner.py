"""Force hang-up, worker side: the double uuid_kill (the leg, then its signal_bond leg).

When the live state did not know something at request time, the worker finds it out before
killing, and stores it in the action's params first, so a retry after a partial run (the leg
already killed, its variables gone) still kills the bond and never asks twice:
- the node (`node` null: the call was unknown and several nodes are configured):
  `uuid_exists <uuid>` on each node, in configuration order; the first `true` holds it.
  None says `true`: the call is gone everywhere, which ends the action succeeded (as
  "No such channel" does). A node that cannot be asked while none says `true`: retried,
  since the call may be there.
- the bond (`bond` null): `uuid_getvar <uuid> signal_bond` on that node, before the kill
  (a killed channel has no variables). `_undef_` or "No such channel": no second kill.
Kills are idempotent; "No such channel" on either kill is success.
"""
from __future__ import annotations

import logging

from flask import current_app

from app.esl import commands, supervisor_commands
from app.esl.errors import EslCommandError, EslUnavailable
from app.esl.pool import esl_pool
from app.extensions import db
from app.models import Action, AuditEntry
from app.names import is_uuid
from app.services import action_state

log = logging.getLogger("fscti.actions")

NO_SUCH_CHANNEL = "-ERR No such channel!"
BOND_VARIABLE = "signal_bond"


def _no_such_channel(reply: str) -> bool:
    # uuid_kill says "No such channel!", older uuid_getvar "No Such Channel!".
    return reply.lower().startswith(NO_SUCH_CHANNEL.lower())


def run_hangup(action_id: str) -> Action | None:
    """Complete what the request could not know (node, bond), then `uuid_kill` each leg and
    its signal_bond leg; the action ends succeeded unless FreeSWITCH refused a kill."""
    action = action_state.claim(action_id, ("queued", "retrying", "running"), "running")
    if action is None:
        return None
    cause = action.params.get("cause")
    calls = [dict(c) for c in action.params["calls"]]
    nodes = current_app.config["FSCTI"]
    lines, failures = [], []
    wired = False
    for call in calls:
        if call.get("node") is None:
            node, asked = _locate(call["uuid"])
            lines += asked
            if node is None:
                lines.append(f"{call['uuid']}: on no configured node (already gone)")
                continue
            call["node"] = node.name
            _remember(action, calls, node=node.name)
        node = nodes.node(call["node"])
        if node is None:
            return action_state.finish(action.id, ("running",), "failed", "\n".join(lines) or None,
                           f"FreeSWITCH node {call['node']!r} is not configured")
        if not call.get("bond") and not call.get("bond_checked"):
            call["bond"], line = _ask_bond(node, call["uuid"])
            call["bond_checked"] = True
            lines.append(line)
            _remember(action, calls)
        for uuid in [call["uuid"]] + ([call["bond"]] if call.get("bond") else []):
            cmd = supervisor_commands.uuid_kill(uuid, cause)
            try:
                reply = esl_pool().api(node, cmd).strip()
            except EslCommandError as exc:
                reply = exc.reply.strip()
                if not _no_such_channel(reply):
                    failures.append(f"{cmd}: {reply}")
            if not wired:
                action_state.on_wire(action)
                wired = True
            lines.append(f"{cmd}: {reply}")
    text = "\n".join(lines)
    if not failures:
        return action_state.finish(action.id, ("running",), "succeeded", text, None)
    return action_state.finish(action.id, ("running",), "failed", text, "; ".join(failures))


def _locate(uuid: str):
    """(the first configured node whose `uuid_exists` says true, or None; the lines asked).

    Raises EslUnavailable when no node says true and some could not be asked."""
    cmd = commands.uuid_exists(uuid)
    lines, down = [], []
    for node in current_app.config["FSCTI"].freeswitch:
        try:
            reply = esl_pool().api(node, cmd).strip()
        except EslUnavailable as exc:
            down.append(f"{node.name} ({exc})")
            lines.append(f"{cmd} on {node.name}: unreachable")
            continue
        except EslCommandError as exc:
            reply = exc.reply.strip()
        lines.append(f"{cmd} on {node.name}: {reply}")
        if reply == "true":
            return node, lines
    if down:
        raise EslUnavailable(f"call {uuid} is on none of the reachable nodes; cannot ask "
                             f"{', '.join(down)}")
    return None, lines


def _ask_bond(node, uuid: str) -> tuple[str | None, str]:
    """(the leg's signal_bond uuid or None, the line for the reply) from `uuid_getvar`."""
    cmd = supervisor_commands.uuid_getvar(uuid, BOND_VARIABLE)
    try:
        reply = esl_pool().api(node, cmd).strip()
    except EslCommandError as exc:
        # "No such channel" (gone already) or a FreeSWITCH without the command: the leg's
        # own kill still goes out; there is just no second one.
        return None, f"{cmd}: {exc.reply.strip()}"
    bond = reply if is_uuid(reply) and reply != uuid else None
    return bond, f"{cmd}: {reply}"


def _remember(action: Action, calls: list[dict], node: str | None = None) -> None:
    """Store what the worker found out (committed before any kill is sent)."""
    values = {"params": dict(action.params, calls=calls)}
    if node is not None and action.node is None:
        values["node"] = node
        entry = db.session.get(AuditEntry, action.params.get("audit_id"))
        if entry is not None and entry.node is None:
            entry.node = node
    if action_state.move(action.id, ("running",), values) is None:
        raise RuntimeError(f"action {action.id} left `running` while its hang-up ran")
    db.session.commit()
