"""The steps of an action's row, each a conditional UPDATE (`... WHERE state IN (...)`), so a
task delivered twice (acks_late) or a GET racing the settle task never acts or finishes twice.

    queued ─▶ sending ─▶ sent ─▶ succeeded | failed      supervise (bgapi originate)
    queued ─▶ running ─▶ succeeded | failed              hangup (uuid_kill ×2), mode (sendevent)
       └──▶ retrying ─▶ (again)                           while the node is unreachable
"""
from __future__ import annotations

import logging

from sqlalchemy import update

from app import metrics
from app.extensions import db
from app.models import Action
from app.models.base import utcnow
from app.services import audit

log = logging.getLogger("fscti.actions")

FINAL = ("succeeded", "failed")
# Every state a worker may still move on; a retry or a give-up takes the action from any.
UNFINISHED = ("sending", "running", "queued", "retrying")


def move(action_id: str, states: tuple, values: dict) -> Action | None:
    """UPDATE the row to `values` if its state is one of `states`; the fresh row, or None."""
    result = db.session.execute(
        update(Action).where(Action.id == action_id, Action.state.in_(states))
        .values(updated_at=utcnow(), **values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.rollback()
        return None
    action = db.session.get(Action, action_id)
    db.session.refresh(action)
    return action


def move_commit(action_id: str, states: tuple, values: dict) -> Action | None:
    """`move`, committed when it moved the row."""
    action = move(action_id, states, values)
    if action is not None:
        db.session.commit()
    return action


def claim(action_id: str, states: tuple, to: str) -> Action | None:
    """Take the action for this task (its state becomes `to`); None: nothing to do."""
    action = move(action_id, states, {"state": to})
    if action is None:
        found = db.session.get(Action, action_id)
        log.info("action %s: nothing to do (state %s)", action_id,
                 found.state if found else "missing")
        return None
    db.session.commit()
    return action


def finish(action_id: str, states: tuple, state: str, reply: str | None, error: str | None,
           **values) -> Action | None:
    """End the action (and fill in its audit row) if it is still in one of `states`."""
    action = move(action_id, states, dict(values, state=state, reply=reply, error=error))
    if action is None:
        return None
    audit.set_result(action.params.get("audit_id"), f"{state}: {error or reply or ''}".strip())
    db.session.commit()
    metrics.actions.labels(_kind(action.kind), state).inc()
    log.info("action %s %s %s on %s: %s", action.id, action.kind, state, action.node,
             error or reply)
    return action


def _kind(kind: str) -> str:
    return kind if kind in ("supervise", "mode", "hangup") else "other"


def on_wire(action: Action) -> None:
    """The action's (first) command was just written to FreeSWITCH: API → wire latency."""
    created = action.created_at
    if created is not None:
        if created.tzinfo is None:  # SQLite hands back naive datetimes; they are UTC
            created = created.replace(tzinfo=utcnow().tzinfo)
        metrics.action_wire_seconds.labels(_kind(action.kind)).observe(
            max((utcnow() - created).total_seconds(), 0.0))


def retrying(action_id: str, error: str) -> None:
    """The node was unreachable; the task will run again (any claim is released)."""
    move_commit(action_id, UNFINISHED, {"state": "retrying", "error": error})


def gave_up(action_id: str, error: str) -> None:
    """The node stayed unreachable through every retry: the action fails with why."""
    finish(action_id, UNFINISHED, "failed", None, error)


def expire_queued(max_age: float) -> list[str]:
    """Fail every action still `queued` `max_age` seconds after it was created: no worker took
    its task (lost with a Redis broker's failover, or a queue nobody consumes). Nothing was sent
    to FreeSWITCH (a worker moves it out of `queued` before sending), and a task delivered
    later finds it final and does nothing. Returns the ids failed."""
    from datetime import timedelta

    if not max_age or max_age <= 0:
        return []
    cutoff = utcnow() - timedelta(seconds=max_age)
    stale = db.session.execute(db.select(Action.id).where(
        Action.state == "queued", Action.created_at < cutoff)).scalars().all()
    done = []
    for action_id in stale:
        if finish(action_id, ("queued",), "failed", None,
                  f"no worker took the action within {max_age:g}s (actions.queue_timeout): its "
                  f"task was lost or is still waiting in the broker; nothing was sent to "
                  f"FreeSWITCH") is not None:
            done.append(action_id)
    return done
