"""Supervisor actions (queue `actions`): supervise, switch mode, hang up; and the settle poll.

A worker slot is held only while a command is on the wire (milliseconds): the originate is
sent with bgapi, the action is marked `sent`, and the short `fscti.actions.settle` task
(re-queued with a countdown, not sleeping) reads the BACKGROUND_JOB result that the listener
and the ingest store in `keys.job_result`, then ends the action. GET /api/v1/actions/<id>
reads that result too, so a caller never waits for the next poll.

Retries: only EslUnavailable (refused, timeout, disconnected) is retried, with exponential
backoff and full jitter, `actions.max_retries` times, then the action fails with the reason.
The retry is explicit (not autoretry_for) so that the row says `retrying` and why, and so
the limits come from the configuration. A FreeSWITCH answer (`-ERR ...`) is final at once.
"""
from __future__ import annotations

import logging
import random

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from flask import current_app

from app import tasknames
from app.esl.errors import EslUnavailable
from app.extensions import db
from app.models import Action
from app.services import action_state, hangup_runner
from app.services import supervise_runner as runner
from workers.tasks.failover import FAILOVER_BUDGET, FAILOVER_ERRORS, through_failover

log = logging.getLogger("fscti.actions")

# Seconds between two reads of a job result that has not arrived: quick at first (the
# supervisor may answer at once), then every POLL_MAX seconds until the deadline.
POLL_FIRST = 0.25
POLL_MAX = 2.0
SETTLE_PUBLISH_RETRY = {"max_retries": 25, "interval_start": 0.1, "interval_step": 0.5,
                        "interval_max": 2.0}


def _cfg() -> dict:
    return current_app.config["FSCTI"].actions


def backoff(retries: int, base: float, cap: float) -> float:
    """Seconds before retry number `retries` + 1: exponential, capped, full jitter (floats:
    Celery's helper works in whole seconds)."""
    return random.uniform(0, min(cap, base * 2 ** min(retries, 30)))


def _unreachable(task, action_id: str, exc: EslUnavailable):
    """Schedule the next attempt (state `retrying`), or fail the action after the last one."""
    cfg = _cfg()
    attempt = task.request.retries + 1
    limit = int(cfg["max_retries"])
    if task.request.retries >= limit:
        action_state.gave_up(action_id,
                             f"FreeSWITCH node unreachable after {attempt} attempt(s): {exc}")
        log.error("action %s failed: node unreachable after %d attempts (%s)", action_id,
                  attempt, exc)
        return None
    countdown = backoff(task.request.retries, cfg["retry_backoff"], cfg["retry_backoff_max"])
    action_state.retrying(action_id, f"attempt {attempt}/{limit + 1}: {exc}; retrying")
    log.warning("action %s: node unreachable (%s), retry %d/%d in %.2fs", action_id, exc,
                attempt, limit, countdown)
    raise task.retry(exc=exc, countdown=countdown, max_retries=limit)


def _attempt(task, step, action_id: str):
    """Run one step; EslUnavailable → retry or give up; anything else ends the action failed
    (never left `running` or `sending` with nobody to finish it)."""
    try:
        return step(action_id)
    except EslUnavailable as exc:
        return _unreachable(task, action_id, exc)
    except Exception as exc:
        db.session.rollback()
        reason = ("took longer than the task's time limit" if isinstance(exc, SoftTimeLimitExceeded)
                  else f"internal error: {type(exc).__name__}: {exc}")
        try:
            action_state.gave_up(action_id, reason)
        except Exception:  # SQL itself is down: the original error is the one to report
            log.exception("action %s: could not record the failure", action_id)
        raise


@shared_task(bind=True, name=tasknames.ACTIONS_SUPERVISE, acks_late=True, ignore_result=True,
             time_limit=60, soft_time_limit=50)
def supervise(self, action_id: str) -> None:
    """bgapi the originate that rings the supervisor into eavesdrop/three_way on the call."""
    action = _attempt(self, runner.start_supervise, action_id)
    if action is not None and action.state == "sent":
        # The originate is out: the settle poll must be queued even while the broker fails
        # over (about 40 s of retries); the beat tick settles a `sent` action whose poll was lost.
        settle.apply_async(args=[action_id], countdown=POLL_FIRST, retry=True,
                           retry_policy=SETTLE_PUBLISH_RETRY)


@shared_task(bind=True, name=tasknames.ACTIONS_MODE, acks_late=True, ignore_result=True,
             time_limit=60, soft_time_limit=50)
def mode(self, action_id: str) -> None:
    """Send the eavesdrop-command event switching a running supervision's mode."""
    _attempt(self, runner.run_mode, action_id)


@shared_task(bind=True, name=tasknames.ACTIONS_HANGUP, acks_late=True, ignore_result=True,
             time_limit=60, soft_time_limit=50)
def hangup(self, action_id: str) -> None:
    """uuid_kill the call's leg, then its signal_bond leg (the double uuid_kill); a bond or a
    node the live state did not know is asked from FreeSWITCH first."""
    _attempt(self, hangup_runner.run_hangup, action_id)


@shared_task(name=tasknames.ACTIONS_SETTLE, acks_late=True, ignore_result=True,
             time_limit=60, soft_time_limit=50)   # room for a Redis failover (FAILOVER_BUDGET)
def settle(action_id: str, poll: float = POLL_FIRST) -> None:
    """End a `sent` supervise action from its BACKGROUND_JOB result, or look again later."""
    action = db.session.get(Action, action_id)
    if action is None or action.state != "sent":
        return
    try:
        # The result is read from Redis: ride out a failover rather than lose the poll (the
        # action would stay `sent` with nobody to end it).
        if through_failover(lambda: runner.settle(action) or runner.expire(action),
                            f"action {action_id}: settle"):
            return
    except FAILOVER_ERRORS as exc:
        db.session.rollback()
        action_state.finish(action_id, ("sent",), "failed", None,
                            f"Redis unavailable for {FAILOVER_BUDGET:g}s: the originate was sent "
                            f"but its result cannot be read ({type(exc).__name__}: {exc}); "
                            f"the supervisor's call may still have been placed")
        return
    poll = min(POLL_MAX, poll * 2)
    settle.apply_async(args=[action_id, poll], countdown=poll)
