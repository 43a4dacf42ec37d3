"""A supervisor action through real processes: the nodes shared by the web app in this process
and the worker's cti.json, the action row as the worker left it, the API call that queues one."""
from contextlib import contextmanager
from types import SimpleNamespace

from app.extensions import db
from app.models import Action
from tests.eslpeer import EslPeer
from tests.eslpeer.procs import listener_cmd, process_env, running, wait_for, worker_cmd
from tests.support.actions import A5, CALL5_UP_US

FAST = {"FSCTI_LISTENER_BACKOFF_INITIAL": "0.05", "FSCTI_LISTENER_BACKOFF_MAX": "0.3",
        "FSCTI_LISTENER_STATUS_INTERVAL": "0.5", "FSCTI_LISTENER_BATCH_DELAY_MS": "2",
        "FSCTI_ESL_TIMEOUT": "2"}
QUICK_RETRIES = {"actions": {"retry_backoff": 0.2, "retry_backoff_max": 0.5, "max_retries": 20}}
IDLE = {"strmicroepoch": str(CALL5_UP_US - 3_000_000),
        "show channels as json": '{"row_count": 0}\n', "show calls as json": '{"row_count": 0}\n',
        "sofia xmlstatus profile internal reg": (
            '<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n'
            '  </registrations>\n</profile>\n')}


def configure(monkeypatch, settings, settings_env, nodes, tmp_path, **kw):
    """The same nodes for the web app in this process and for the worker's cti.json."""
    from app.config import FreeSwitchNode

    monkeypatch.setattr(settings, "freeswitch", [
        FreeSwitchNode(name, *(peer if isinstance(peer, tuple)
                               else (peer.host, peer.port, peer.password)))
        for name, peer in nodes])
    return process_env(settings_env, tmp_path, nodes=nodes, extra=FAST, **kw)


def row(action_id):
    """A detached snapshot of the action row as the worker left it."""
    db.session.remove()
    found = db.session.get(Action, action_id)
    if found is None:
        return None
    return SimpleNamespace(**{c.key: getattr(found, c.key) for c in Action.__table__.columns})


def wait_state(action_id, states, log, timeout=30):
    return wait_for(lambda: (r := row(action_id)) is not None and r.state in states and r, timeout,
                    what=f"action {action_id} in {states}", log=log)


def post(client, tokens, path, body):
    r = client.post(path, headers=tokens["supervisor"], json=body)
    assert r.status_code == 202, r.get_json()
    return r.get_json()["id"]


@contextmanager
def refused_supervision(monkeypatch, settings, tmp_path, client, tokens, extra_env=None):
    """A supervision FreeSWITCH refuses (USER_NOT_REGISTERED) through a real worker and
    listener; yields (peer, the failed action's row, the worker's log) while both still run."""
    with EslPeer(api=IDLE) as fs1:
        fs1.api.on("originate", lambda args: "-ERR USER_NOT_REGISTERED\n")
        env = configure(monkeypatch, settings, settings, [("fs1", fs1)], tmp_path)
        env.update(extra_env or {})
        wlog, llog = tmp_path / "worker.log", tmp_path / "listener.log"
        with running(worker_cmd(queues="actions,events", concurrency=2), env, wlog), \
                running(listener_cmd(), env, llog):
            fs1.wait_subscribed(timeout=20)
            sup = post(client, tokens, f"/api/v1/calls/{A5}/supervise",
                       {"supervisor": "1003", "domain": "127.0.0.1"})
            yield fs1, wait_state(sup, ("succeeded", "failed"), wlog), wlog
