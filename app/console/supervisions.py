"""Who supervises whom: the supervise actions (SQL) whose supervisor leg is live (Redis)."""
from __future__ import annotations

from datetime import timedelta, timezone

from app.extensions import db
from app.models import Action
from app.models.base import utcnow
from app.state.calls import find_call

LIVE_STATES = ("queued", "retrying", "sending", "sent", "succeeded")
HORIZON = timedelta(hours=12)
# A succeeded supervision whose leg the state does not know (its events still in flight, or
# a node whose events do not reach us) is shown this long after it succeeded.
UNSEEN_LEG = timedelta(minutes=2)


def supervisions(client, domain: str, limit: int = 500) -> list[dict]:
    """Supervisions of calls in `domain` still pending or running (their leg not hung up):
    [{id, sup (supervisor extension), x (supervised extension), u (call uuid), mode, state}]."""
    try:
        return _supervisions(client, domain, limit)
    finally:
        db.session.rollback()   # end the read transaction: its pooled connection goes back


def _supervisions(client, domain: str, limit: int) -> list[dict]:
    rows = db.session.execute(
        db.select(Action).where(Action.kind == "supervise", Action.state.in_(LIVE_STATES),
                                Action.created_at >= utcnow() - HORIZON)
        .order_by(Action.created_at.desc()).limit(limit)).scalars().all()
    out = []
    for a in rows:
        p = a.params or {}
        if p.get("domain") != domain:
            continue
        if a.state == "succeeded":
            leg = find_call(a.leg_uuid or "", client)
            target = find_call(a.target_uuid or "", client)
            if (leg is not None and leg["hungup"]) or (target is not None and target["hungup"]):
                continue
            updated = a.updated_at if a.updated_at.tzinfo else a.updated_at.replace(
                tzinfo=timezone.utc)
            if leg is None and utcnow() - updated > UNSEEN_LEG:
                continue
        out.append({"id": a.id, "sup": p.get("supervisor"), "x": p.get("extension"),
                    "u": a.target_uuid, "mode": p.get("current_mode") or p.get("mode"),
                    "state": a.state})
    return out
