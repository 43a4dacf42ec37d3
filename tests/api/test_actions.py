"""Supervisor actions through the API, run in-process against the wire-level peer.

POST → 202 + Action row + audit row + task queued; the task functions then run here (the
real-worker runs are in tests/integration/test_actions_worker.py) and the peer records the
exact packets. Results come back as real BACKGROUND_JOB events through the state's ingest.
"""
import pytest

from app.esl.errors import EslUnavailable
from app.extensions import db
from app.models import Action, AuditEntry
from tests.eslpeer import EslPeer
from tests.support.actions import (A5, B5, DOMAIN, UNKNOWN, JobFeed, call5_up, lines,
                                   purge_actions_queue, use_nodes, wire)
from workers.tasks import actions as tasks

# The mapping FreeSWITCH's misleading names force (facts §0.7, §6.1): pinned here, exactly.
ORIGINATE = {
    "listen": "{{origination_uuid={leg},eavesdrop_enable_dtmf=true,originate_timeout=30}}"
              "user/1003@127.0.0.1 &eavesdrop({target})",
    "whisper_extension": "{{origination_uuid={leg},eavesdrop_enable_dtmf=true,"
                         "eavesdrop_whisper_bleg=true,originate_timeout=30}}"
                         "user/1003@127.0.0.1 &eavesdrop({target})",
    "whisper_far_end": "{{origination_uuid={leg},eavesdrop_enable_dtmf=true,"
                       "eavesdrop_whisper_aleg=true,originate_timeout=30}}"
                       "user/1003@127.0.0.1 &eavesdrop({target})",
    "barge": "{{origination_uuid={leg},originate_timeout=30}}user/1003@127.0.0.1 "
             "&three_way({target})",
}
MODE_KEYS = {"listen": "0", "whisper_extension": "2", "whisper_far_end": "1", "barge": "3"}


@pytest.fixture
def fs1(monkeypatch, settings, app):
    purge_actions_queue(settings)
    with EslPeer() as peer:
        use_nodes(monkeypatch, settings, fs1=peer)
        peer.channels.update({A5, B5})
        yield peer
    purge_actions_queue(settings)


@pytest.fixture
def call5(rdb, settings):
    call5_up(rdb, settings, "fs1")


def accepted(r, kind):
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["kind"] == kind and body["state"] == "queued"
    assert r.headers["Location"] == body["href"] == f"/api/v1/actions/{body['id']}"
    return body["id"]


def action(client, tokens, action_id):
    # The test's app context (app_ctx) is shared by the client's requests: forget rows loaded
    # earlier, as a fresh request would (tasks run eagerly commit in their own contexts).
    db.session.expire_all()
    r = client.get(f"/api/v1/actions/{action_id}", headers=tokens["supervisor"])
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def supervise(client, tokens, mode="listen", **extra):
    r = client.post(f"/api/v1/calls/{A5}/supervise", headers=tokens["supervisor"],
                    json={"supervisor": "1003", "mode": mode, **extra})
    return accepted(r, "supervise")


# --- supervise ------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", list(ORIGINATE))
def test_each_mode_sends_its_exact_originate(client, tokens, fs1, call5, app_ctx, mode):
    action_id = supervise(client, tokens, mode)
    row = db.session.get(Action, action_id)
    assert row.node == "fs1" and row.target_uuid == A5 and row.state == "queued"
    tasks.supervise.run(action_id)
    [packet] = wire(fs1)
    assert packet.command == "bgapi originate " + ORIGINATE[mode].format(leg=row.leg_uuid,
                                                                        target=A5)
    assert packet.headers == {"Job-UUID": row.job_uuid}
    db.session.refresh(row)
    assert row.state == "sent"
    assert action(client, tokens, action_id)["commands"] == [f"bgapi {packet.command[6:]}"]


def test_the_result_comes_from_the_background_job(client, tokens, fs1, call5, rdb, settings,
                                                  app_ctx):
    with JobFeed(fs1, rdb, settings):
        action_id = supervise(client, tokens, "whisper_extension")
        tasks.supervise.run(action_id)
        leg = db.session.get(Action, action_id).leg_uuid
        fs1.wait_for(lambda: action(client, tokens, action_id)["state"] == "succeeded")
    got = action(client, tokens, action_id)
    assert got["reply"] == f"+OK {leg}" and got["error"] is None and got["leg_uuid"] == leg
    assert got["params"]["hears"] == "extension" and got["params"]["mode"] == "whisper_extension"
    entry = db.session.execute(db.select(AuditEntry)).scalar_one()
    assert (entry.what, entry.target, entry.node) == ("supervise", A5, "fs1")
    assert entry.actor == "token:test-supervisor" and entry.result == f"succeeded: +OK {leg}"
    assert entry.detail["action_id"] == action_id


def test_the_settle_task_ends_the_action_without_a_get(client, tokens, fs1, call5, rdb,
                                                       settings, app_ctx):
    with JobFeed(fs1, rdb, settings) as feed:
        action_id = supervise(client, tokens)
        tasks.supervise.run(action_id)
        fs1.wait_for(lambda: feed.seen)
    tasks.settle.run(action_id)
    row = db.session.get(Action, action_id)
    db.session.refresh(row)
    assert row.state == "succeeded" and row.reply == f"+OK {row.leg_uuid}"


def test_user_not_registered_fails_at_once_with_that_reason(client, tokens, fs1, call5, rdb,
                                                           settings, app_ctx):
    fs1.api.on("originate", lambda args: "-ERR USER_NOT_REGISTERED\n")
    with JobFeed(fs1, rdb, settings):
        action_id = supervise(client, tokens)
        tasks.supervise.run(action_id)
        fs1.wait_for(lambda: action(client, tokens, action_id)["state"] == "failed")
    got = action(client, tokens, action_id)
    assert got["error"] == "USER_NOT_REGISTERED" and got["reply"] == "-ERR USER_NOT_REGISTERED"
    # Final: running the task again (a redelivery) sends nothing more.
    tasks.supervise.run(action_id)
    assert len(lines(fs1)) == 1
    entry = db.session.execute(db.select(AuditEntry)).scalar_one()
    assert entry.result == "failed: USER_NOT_REGISTERED"


def test_a_result_overdue_fails_with_a_clear_reason(client, tokens, fs1, call5, app_ctx,
                                                    monkeypatch, settings):
    monkeypatch.setitem(settings.actions, "result_grace", 0)
    monkeypatch.setitem(settings.actions, "originate_timeout", 1)
    action_id = supervise(client, tokens)
    tasks.supervise.run(action_id)
    row = db.session.get(Action, action_id)
    row.params = dict(row.params, sent_at=row.params["sent_at"] - 5)
    db.session.commit()
    tasks.settle.run(action_id)
    got = action(client, tokens, action_id)
    assert got["state"] == "failed" and "no BACKGROUND_JOB result from fs1" in got["error"]


def test_a_redelivered_supervise_never_originates_twice(client, tokens, fs1, call5, app_ctx,
                                                        monkeypatch, settings):
    action_id = supervise(client, tokens)
    tasks.supervise.run(action_id)
    tasks.supervise.run(action_id)
    assert len(lines(fs1)) == 1
    # A worker died around the bgapi (row left `sending`): the redelivery waits, never resends,
    # and the deadline ends it with a reason.
    other = supervise(client, tokens)
    row = db.session.get(Action, other)
    row.state = "sending"
    db.session.commit()
    tasks.supervise.run(other)
    assert len(lines(fs1)) == 1
    assert action(client, tokens, other)["state"] == "sent"
    monkeypatch.setitem(settings.actions, "result_grace", -60)
    tasks.settle.run(other)
    got = action(client, tokens, other)
    assert got["state"] == "failed" and "may still have been placed" in got["error"]


def test_the_supervisor_domain_defaults_to_the_calls(client, tokens, fs1, call5, app_ctx):
    action_id = supervise(client, tokens, domain="pbx.example.com", dtmf=False)
    tasks.supervise.run(action_id)
    leg = db.session.get(Action, action_id).leg_uuid
    assert lines(fs1) == [f"bgapi originate {{origination_uuid={leg},eavesdrop_enable_dtmf=false,"
                          f"originate_timeout=30}}user/1003@pbx.example.com &eavesdrop({A5})"]


def test_supervise_an_extension_picks_its_live_call(client, tokens, fs1, call5, app_ctx):
    r = client.post(f"/api/v1/domains/{DOMAIN}/extensions/1002/supervise",
                    headers=tokens["supervisor"], json={"supervisor": "1003", "mode": "barge"})
    action_id = accepted(r, "supervise")
    tasks.supervise.run(action_id)
    assert lines(fs1)[0].endswith(f"user/1003@127.0.0.1 &three_way({B5})")
    r = client.post(f"/api/v1/domains/{DOMAIN}/extensions/1003/supervise",
                    headers=tokens["supervisor"], json={"supervisor": "1004"})
    assert r.status_code == 404 and "no live call" in r.get_json()["message"]


def test_a_trailing_newline_is_no_name(client, tokens, fs1, call5, app_ctx):
    # marshmallow's Regexp validator used re.match, whose `$` accepts "1003\n"
    for body, field in (({"supervisor": "1003\n"}, "supervisor"),
                        ({"supervisor": "1003", "domain": "127.0.0.1\n"}, "domain")):
        r = client.post(f"/api/v1/calls/{A5}/supervise", headers=tokens["supervisor"], json=body)
        assert r.status_code == 422 and list(r.get_json()["details"]) == [field]
    assert lines(fs1) == []


def test_supervise_refusals(client, tokens, fs1, call5, rdb, settings, app_ctx):
    h = tokens["supervisor"]
    own = client.post(f"/api/v1/calls/{A5}/supervise", headers=h, json={"supervisor": "1001"})
    assert own.status_code == 409 and "supervisor" in own.get_json()["details"]
    unknown = client.post(f"/api/v1/calls/{UNKNOWN}/supervise", headers=h,
                          json={"supervisor": "1003"})
    assert unknown.status_code == 404 and "domain" in unknown.get_json()["details"]
    node = client.post(f"/api/v1/calls/{A5}/supervise", headers=h,
                       json={"supervisor": "1003", "node": "fs9"})
    assert node.status_code == 404 and "node" in node.get_json()["details"]
    # The call ends: supervising it is a conflict.
    call5_end = 1795670617_300000
    from app.state.ingest import apply_events
    from tests.support.replay import slim_events, until
    apply_events(rdb, settings, "fs1", until(slim_events(settings), call5_end), now=call5_end)
    ended = client.post(f"/api/v1/calls/{A5}/supervise", headers=h, json={"supervisor": "1003"})
    assert ended.status_code == 409
    assert lines(fs1) == []
    results = [e.result for e in db.session.execute(db.select(AuditEntry)).scalars()]
    assert len(results) == 4 and all(r.startswith("rejected: ") for r in results)


def test_a_call_unknown_to_the_state_goes_to_the_only_node(client, tokens, fs1, app_ctx):
    r = client.post(f"/api/v1/calls/{A5}/supervise", headers=tokens["supervisor"],
                    json={"supervisor": "1003", "domain": DOMAIN})
    action_id = accepted(r, "supervise")
    tasks.supervise.run(action_id)
    assert lines(fs1)[0].endswith(f"user/1003@127.0.0.1 &eavesdrop({A5})")


# --- mode switch ----------------------------------------------------------------------------

def _answered(client, tokens, fs1, rdb, settings, mode="listen"):
    with JobFeed(fs1, rdb, settings):
        action_id = supervise(client, tokens, mode)
        tasks.supervise.run(action_id)
        fs1.wait_for(lambda: action(client, tokens, action_id)["state"] == "succeeded")
    return action_id


@pytest.mark.parametrize("mode", list(MODE_KEYS))
def test_mode_switch_sends_the_eavesdrop_command_to_the_supervisor_leg(
        client, tokens, fs1, call5, rdb, settings, app_ctx, mode):
    sup_id = _answered(client, tokens, fs1, rdb, settings, "barge")
    r = client.post(f"/api/v1/supervisions/{sup_id}/mode", headers=tokens["supervisor"],
                    json={"mode": mode})
    mode_id = accepted(r, "mode")
    tasks.mode.run(mode_id)
    leg = db.session.get(Action, sup_id).leg_uuid
    packet = wire(fs1)[-1]
    assert packet.command == "sendevent CUSTOM"
    assert packet.headers == {"Event-Subclass": "supervisor::cmd", "Unique-ID": leg,
                              "eavesdrop-command": MODE_KEYS[mode]}
    assert packet.raw == (f"sendevent CUSTOM\nEvent-Subclass: supervisor::cmd\nUnique-ID: {leg}\n"
                          f"eavesdrop-command: {MODE_KEYS[mode]}\n\n").encode()
    got = action(client, tokens, mode_id)
    assert got["state"] == "succeeded" and got["reply"].startswith("+OK")
    sup = action(client, tokens, sup_id)
    assert sup["params"]["current_mode"] == mode and sup["params"]["mode"] == "barge"


def test_mode_switch_needs_an_answered_running_supervision(client, tokens, fs1, call5, app_ctx):
    h = tokens["supervisor"]
    sup_id = supervise(client, tokens)
    r = client.post(f"/api/v1/supervisions/{sup_id}/mode", headers=h, json={"mode": "barge"})
    assert r.status_code == 409 and "not answered yet" in r.get_json()["message"]
    r = client.post(f"/api/v1/supervisions/{UNKNOWN}/mode", headers=h, json={"mode": "barge"})
    assert r.status_code == 404
    r = client.post(f"/api/v1/supervisions/{sup_id}/mode", headers=h, json={"mode": "shout"})
    assert r.status_code == 422 and "mode" in r.get_json()["details"]
    assert lines(fs1) == []


# --- hang-up --------------------------------------------------------------------------------

def hangup(client, tokens, uuid=A5, **body):
    r = client.post(f"/api/v1/calls/{uuid}/hangup", headers=tokens["supervisor"], json=body)
    return accepted(r, "hangup")


def test_double_kill_the_leg_then_its_signal_bond(client, tokens, fs1, call5, app_ctx):
    action_id = hangup(client, tokens)
    tasks.hangup.run(action_id)
    assert lines(fs1) == [f"api uuid_kill {A5}", f"api uuid_kill {B5}"]
    got = action(client, tokens, action_id)
    assert got["state"] == "succeeded"
    assert got["reply"] == f"uuid_kill {A5}: +OK\nuuid_kill {B5}: +OK"
    entry = db.session.execute(db.select(AuditEntry)).scalar_one()
    assert (entry.what, entry.target, entry.node) == ("hangup", A5, "fs1")
    assert entry.result.startswith("succeeded: ")


def test_no_such_channel_is_success_on_either_leg(client, tokens, fs1, call5, app_ctx):
    fs1.channels.discard(B5)          # the far end already went away
    first = hangup(client, tokens)
    tasks.hangup.run(first)
    got = action(client, tokens, first)
    assert got["state"] == "succeeded"
    assert got["reply"] == f"uuid_kill {A5}: +OK\nuuid_kill {B5}: -ERR No such channel!"
    second = hangup(client, tokens)   # both gone now
    tasks.hangup.run(second)
    got = action(client, tokens, second)
    assert got["state"] == "succeeded" and got["reply"].count("-ERR No such channel!") == 2
    assert len(lines(fs1)) == 4


def test_another_error_fails_the_hangup(client, tokens, fs1, call5, app_ctx):
    fs1.api.set(f"uuid_kill {B5}", "-ERR Permission denied\n")
    action_id = hangup(client, tokens)
    tasks.hangup.run(action_id)
    got = action(client, tokens, action_id)
    assert got["state"] == "failed" and got["error"] == f"uuid_kill {B5}: -ERR Permission denied"


def test_hangup_cause_is_validated_and_sent(client, tokens, fs1, call5, app_ctx):
    action_id = hangup(client, tokens, cause="manager_request")
    tasks.hangup.run(action_id)
    assert lines(fs1) == [f"api uuid_kill {A5} MANAGER_REQUEST",
                          f"api uuid_kill {B5} MANAGER_REQUEST"]
    r = client.post(f"/api/v1/calls/{A5}/hangup", headers=tokens["supervisor"],
                    json={"cause": "NOT_A_CAUSE"})
    assert r.status_code == 422 and "cause" in r.get_json()["details"]
    assert len(lines(fs1)) == 2


def test_hangup_with_an_empty_body(client, tokens, fs1, call5, app_ctx):
    r = client.post(f"/api/v1/calls/{A5}/hangup", headers=tokens["supervisor"])
    tasks.hangup.run(accepted(r, "hangup"))
    assert lines(fs1) == [f"api uuid_kill {A5}", f"api uuid_kill {B5}"]


def test_hangup_an_extension_kills_each_live_call_and_its_bond(client, tokens, fs1, call5,
                                                               app_ctx):
    r = client.post(f"/api/v1/domains/{DOMAIN}/extensions/1002/hangup",
                    headers=tokens["supervisor"], json={})
    action_id = accepted(r, "hangup")
    tasks.hangup.run(action_id)
    assert lines(fs1) == [f"api uuid_kill {B5}", f"api uuid_kill {A5}"]
    entry = db.session.execute(db.select(AuditEntry)).scalar_one()
    assert entry.target == "1002@127.0.0.1" and entry.what == "hangup"
    r = client.post(f"/api/v1/domains/{DOMAIN}/extensions/1003/hangup",
                    headers=tokens["supervisor"], json={})
    assert r.status_code == 404


def test_a_hangup_retry_after_a_partial_run_is_safe(client, tokens, fs1, call5, app_ctx):
    action_id = hangup(client, tokens)
    tasks.hangup.run(action_id)
    row = db.session.get(Action, action_id)
    row.state = "running"             # as if the worker died before recording the result
    db.session.commit()
    tasks.hangup.run(action_id)
    assert action(client, tokens, action_id)["state"] == "succeeded"
    assert lines(fs1)[2:] == [f"api uuid_kill {A5}", f"api uuid_kill {B5}"]


# --- unreachable node -----------------------------------------------------------------------

def test_an_unreachable_node_marks_the_action_retrying_then_failed(client, tokens, call5,
                                                                   monkeypatch, settings,
                                                                   app_ctx):
    purge_actions_queue(settings)
    peer = EslPeer().start()
    use_nodes(monkeypatch, settings, fs1=peer)
    peer.stop()                       # refused from now on
    action_id = hangup(client, tokens)
    with pytest.raises(EslUnavailable):                     # a direct call cannot schedule
        tasks.hangup.run(action_id)
    got = action(client, tokens, action_id)
    assert got["state"] == "retrying" and got["error"].startswith("attempt 1/6: ")
    # Eagerly, Celery runs every retry at once: 1 + max_retries attempts, then the action fails.
    assert tasks.hangup.apply(args=[action_id]).state == "SUCCESS"
    got = action(client, tokens, action_id)
    assert got["state"] == "failed"
    assert got["error"].startswith("FreeSWITCH node unreachable after 6 attempt(s): ")
    entry = db.session.execute(db.select(AuditEntry)).scalar_one()
    assert entry.result.startswith("failed: FreeSWITCH node unreachable after 6 attempt(s)")
    purge_actions_queue(settings)


# --- roles, ids -----------------------------------------------------------------------------

def test_viewers_cannot_act_or_read_actions(client, tokens, fs1, call5, app_ctx):
    h = tokens["viewer"]
    assert client.post(f"/api/v1/calls/{A5}/hangup", headers=h, json={}).status_code == 403
    assert client.post(f"/api/v1/calls/{A5}/supervise", headers=h,
                       json={"supervisor": "1003"}).status_code == 403
    action_id = hangup(client, tokens)
    assert client.get(f"/api/v1/actions/{action_id}", headers=h).status_code == 403
    assert client.get(f"/api/v1/actions/{action_id}",
                      headers=tokens["admin"]).status_code == 200
    assert client.get(f"/api/v1/actions/{UNKNOWN}", headers=tokens["admin"]).status_code == 404
    assert client.get("/api/v1/actions/nope", headers=tokens["admin"]).status_code == 404
    assert lines(fs1) == []


def test_actions_are_in_openapi(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    for path in ["/api/v1/calls/{uuid}/supervise", "/api/v1/calls/{uuid}/hangup",
                 "/api/v1/supervisions/{supervision_id}/mode", "/api/v1/actions/{action_id}",
                 "/api/v1/domains/{domain}/extensions/{ext}/hangup",
                 "/api/v1/domains/{domain}/extensions/{ext}/supervise", "/api/v1/time",
                 "/api/v1/audit"]:
        assert path in paths, path


def test_retry_backoff_is_exponential_capped_and_jittered():
    for retries, cap in [(0, 0.2), (1, 0.4), (2, 0.8), (3, 1.0), (40, 1.0)]:
        delays = [tasks.backoff(retries, 0.2, 1.0) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays) and max(delays) > cap / 2


def test_an_unexpected_error_fails_the_action_instead_of_leaving_it_running(client, tokens, fs1,
                                                                            call5, app_ctx):
    action_id = hangup(client, tokens)
    row = db.session.get(Action, action_id)
    row.params = {"audit_id": row.params["audit_id"]}       # a row no code path can run
    db.session.commit()
    with pytest.raises(KeyError):
        tasks.hangup.run(action_id)
    got = action(client, tokens, action_id)
    assert got["state"] == "failed" and got["error"] == "internal error: KeyError: 'calls'"
    assert lines(fs1) == []


def test_with_the_broker_down_the_action_fails_at_once_with_503(app, settings, tokens, fs1, call5,
                                                               app_ctx):
    """Nothing is left 'queued' forever and nothing reaches FreeSWITCH: the API says 503, the
    action and its audit row say why."""
    import dataclasses

    from app import create_app
    from tests.support.net import HeldPort

    dead = HeldPort()  # bound, never listening: refused, and nobody else can take it
    down = dataclasses.replace(settings, celery_broker_url=dead.url())
    other = create_app(down, TESTING=True)
    try:
        r = other.test_client().post(f"/api/v1/calls/{A5}/hangup", headers=tokens["supervisor"],
                                     json={})
    finally:
        app.extensions["celery"].set_current()      # the session app's Celery again
        app.extensions["celery"].set_default()
        dead.release()
    assert r.status_code == 503, r.get_json()
    body = r.get_json()
    assert body["error"] == "unavailable"
    assert body["message"] == "the task queue is unavailable; nothing was sent to FreeSWITCH"
    db.session.expire_all()
    row = db.session.get(Action, body["details"]["action_id"])
    assert row.state == "failed" and row.error.startswith("could not queue the action: ")
    entry = db.session.execute(db.select(AuditEntry)).scalar_one()
    assert (entry.what, entry.target) == ("hangup", A5)
    assert entry.result.startswith("failed: could not queue the action")
    assert lines(fs1) == []
