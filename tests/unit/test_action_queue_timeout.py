"""An action that no worker took (its task lost, e.g. with a Redis broker's failover) is
failed by the beat tick after actions.queue_timeout, with the reason; a task delivered later
finds it final and sends nothing."""
from datetime import timedelta

import pytest

from app.config import ConfigError, Settings
from app.extensions import db
from app.models import Action
from app.models.base import utcnow
from app.services import action_state, supervise_runner


def _action(state: str, age: float) -> str:
    a = Action(id=f"00000000-0000-4000-8000-{int(age * 1000) % 10**12:012d}"[:36], kind="supervise",
               state=state, actor="t", node="fs1", params={"mode": "listen"})
    a.created_at = utcnow() - timedelta(seconds=age)
    db.session.add(a)
    db.session.commit()
    return a.id


def test_old_queued_actions_fail_with_the_reason(app_ctx):
    old, young, sent = _action("queued", 90.0), _action("queued", 5.0), _action("sent", 120.0)
    assert action_state.expire_queued(60) == [old]
    db.session.remove()
    got = {a.id: a for a in db.session.execute(db.select(Action)).scalars()}
    assert got[old].state == "failed" and "no worker took the action within 60s" in got[old].error
    assert "nothing was sent" in got[old].error
    assert got[young].state == "queued" and got[sent].state == "sent"
    assert action_state.expire_queued(0) == []
    # the lost task delivered at last: the action is final, nothing is claimed or sent
    assert supervise_runner.start_supervise(old) is None


def test_queue_timeout_setting():
    s = Settings.load({})
    assert s.actions["queue_timeout"] == 60
    with pytest.raises(ConfigError, match="actions.queue_timeout: must be a whole number"):
        from app.config.sections import actions_section
        actions_section({"queue_timeout": 1.5})
