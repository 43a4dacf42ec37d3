"""Supervisor actions on a real Celery worker process (queues actions,events) against peers.

The full path of a supervision: API → worker → `bgapi originate` on the wire → the peer's
BACKGROUND_JOB → the real listener process → ingest on the worker → `keys.job_result` →
the settle task ends the action (no GET involved). Also: retries while a node is down,
giving up with a clear reason, and routing to the node that holds the call.
"""
from types import SimpleNamespace

import pytest

from app.extensions import db
from app.models import Action, AuditEntry
from app.state import keys
from app.state.calls import find_call
from tests.eslpeer import EslPeer, phase_events
from tests.eslpeer.procs import listener_cmd, log_text, process_env, running, wait_for, worker_cmd
from tests.support.action_pipeline import (FAST, IDLE, QUICK_RETRIES, configure, post,
                                           refused_supervision, row, wait_state)
from tests.support.actions import A5, B5, CALL5_UP_US, call5_up, lines, wire
from tests.support.net import HeldPort
from tests.eslpeer.broker import purge_queues

pytestmark = pytest.mark.integration

@pytest.fixture
def queues(settings):
    purge_queues(settings.celery_broker_url, "actions", "events", "celery")
    yield
    purge_queues(settings.celery_broker_url, "actions", "events", "celery")


def acts(peer) -> list[str]:
    """What actions sent a peer (not the listener's resync commands)."""
    return [line for line in lines(peer)
            if line.startswith(("bgapi originate ", "api uuid_kill ", "sendevent "))]


def test_supervise_switch_and_hang_up_through_the_whole_pipeline(app, app_ctx, client, tokens,
                                                                  rdb, settings, tmp_path, queues,
                                                                  monkeypatch):
    with EslPeer(api=IDLE) as fs1:
        env = configure(monkeypatch, settings, settings, [("fs1", fs1)], tmp_path)
        wlog, llog = tmp_path / "worker.log", tmp_path / "listener.log"
        with running(worker_cmd(queues="actions,events", concurrency=2), env, wlog), \
                running(listener_cmd(), env, llog):
            fs1.wait_subscribed(timeout=20)
            wait_for(lambda: rdb.hget(keys.node("fs1"), "resync_reason"), 30,
                     what="the connect resync", log=llog)
            fs1.replay(events=[w for w in phase_events("call5_eavesdrop")
                               if w.timestamp_us <= CALL5_UP_US])
            # the whole call, not only its first leg: the hang-up takes the bond (B5) from the
            # state; a request made before the bridge was applied kills A5 alone
            wait_for(lambda: (find_call(A5, rdb) or {}).get("signal_bond") == B5, 30,
                     what="call 5 bridged in the state", log=wlog)

            # The worker sends the originate; the settle task ends the action from the
            # BACKGROUND_JOB the listener brought back (nobody calls GET meanwhile).
            sup = post(client, tokens, f"/api/v1/calls/{A5}/supervise",
                       {"supervisor": "1003", "mode": "whisper_far_end"})
            done = wait_state(sup, ("succeeded", "failed"), wlog)
            assert done.state == "succeeded" and done.reply == f"+OK {done.leg_uuid}"
            assert acts(fs1)[0] == (
                f"bgapi originate {{origination_uuid={done.leg_uuid},eavesdrop_enable_dtmf=true,"
                f"eavesdrop_whisper_aleg=true,originate_timeout=30}}user/1003@127.0.0.1 "
                f"&eavesdrop({A5})")
            assert [p.headers for p in wire(fs1) if p.command.startswith("bgapi originate")] == [
                {"Job-UUID": done.job_uuid}]

            mode = post(client, tokens, f"/api/v1/supervisions/{sup}/mode",
                        {"mode": "whisper_extension"})
            assert wait_state(mode, ("succeeded", "failed"), wlog).state == "succeeded"
            event = wire(fs1)[-1]
            assert event.command == "sendevent CUSTOM"
            assert event.headers["Unique-ID"] == done.leg_uuid
            assert event.headers["eavesdrop-command"] == "2"

            kill = post(client, tokens, f"/api/v1/calls/{A5}/hangup", {"cause": "MANAGER_REQUEST"})
            killed = wait_state(kill, ("succeeded", "failed"), wlog)
            assert killed.state == "succeeded"
            assert acts(fs1)[-2:] == [f"api uuid_kill {A5} MANAGER_REQUEST",
                                       f"api uuid_kill {B5} MANAGER_REQUEST"]
    audit = db.session.execute(db.select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    assert [(a.what, a.result.split(":")[0]) for a in audit] == [
        ("supervise", "succeeded"), ("mode", "succeeded"), ("hangup", "succeeded")]


def test_user_not_registered_fails_through_the_pipeline(app, app_ctx, client, tokens, rdb,
                                                        settings, tmp_path, queues, monkeypatch):
    with refused_supervision(monkeypatch, settings, tmp_path, client, tokens) as (fs1, failed, _):
        assert failed.state == "failed" and failed.error == "USER_NOT_REGISTERED"
    assert len(acts(fs1)) == 1            # a FreeSWITCH answer is never retried


def test_a_node_down_then_up_gets_the_action_after_retries(app, app_ctx, client, tokens, rdb,
                                                          settings, tmp_path, queues, monkeypatch):
    down = HeldPort()           # refused until the late peer listens on this very port
    call5_up(rdb, settings, "fs1")
    env = configure(monkeypatch, settings, settings, [("fs1", (down.host, down.port, "ClueCon"))],
                    tmp_path, config=QUICK_RETRIES)
    wlog = tmp_path / "worker.log"
    with down, running(worker_cmd(queues="actions", concurrency=1), env, wlog):
        kill = post(client, tokens, f"/api/v1/calls/{A5}/hangup", {})
        retrying = wait_state(kill, ("retrying",), wlog)
        assert retrying.error.startswith("attempt ")
        with EslPeer(port=down.port) as late:
            late.channels.update({A5, B5})
            done = wait_state(kill, ("succeeded", "failed"), wlog)
            assert done.state == "succeeded"
            assert acts(late) == [f"api uuid_kill {A5}", f"api uuid_kill {B5}"]
    assert "node unreachable" in log_text(wlog)


def test_a_node_that_stays_down_fails_the_action_with_the_reason(app, app_ctx, client, tokens, rdb,
                                                                settings, tmp_path, queues,
                                                                monkeypatch):
    call5_up(rdb, settings, "fs1")
    config = {"actions": {"retry_backoff": 0.1, "retry_backoff_max": 0.2, "max_retries": 2}}
    dead = HeldPort()           # refuses every connection; nobody else can listen there
    env = configure(monkeypatch, settings, settings,
                    [("fs1", (dead.host, dead.port, "ClueCon"))], tmp_path, config=config)
    wlog = tmp_path / "worker.log"
    with dead, running(worker_cmd(queues="actions", concurrency=1), env, wlog):
        sup = post(client, tokens, f"/api/v1/calls/{A5}/supervise", {"supervisor": "1003"})
        failed = wait_state(sup, ("failed",), wlog)
    assert failed.error.startswith("FreeSWITCH node unreachable after 3 attempt(s): ")
    entry = db.session.execute(db.select(AuditEntry)).scalar_one()
    assert entry.result.startswith("failed: FreeSWITCH node unreachable after 3 attempt(s)")


def test_commands_go_to_the_node_that_holds_the_call(app, app_ctx, client, tokens, rdb, settings,
                                                     tmp_path, queues, monkeypatch):
    with EslPeer() as fs1, EslPeer() as fs2:
        call5_up(rdb, settings, "fs2")
        fs2.channels.update({A5, B5})
        env = configure(monkeypatch, settings, settings, [("fs1", fs1), ("fs2", fs2)], tmp_path)
        wlog = tmp_path / "worker.log"
        with running(worker_cmd(queues="actions", concurrency=2), env, wlog):
            kill = post(client, tokens, "/api/v1/domains/127.0.0.1/extensions/1001/hangup", {})
            sup = post(client, tokens, f"/api/v1/calls/{B5}/supervise",
                       {"supervisor": "1003", "mode": "barge"})
            assert wait_state(kill, ("succeeded", "failed"), wlog).state == "succeeded"
            sent = wait_state(sup, ("sent", "succeeded", "failed"), wlog)
    assert sent.node == "fs2"
    # Two worker slots: the originate may land before, between or after the two kills, but the
    # double kill itself is in order (the extension's leg, then its signal bond).
    assert [c for c in acts(fs2) if "uuid_kill" in c] == [f"api uuid_kill {A5}", f"api uuid_kill {B5}"]
    assert any(line.endswith(f"user/1003@127.0.0.1 &three_way({B5})") for line in acts(fs2))
    assert fs1.commands() == []
