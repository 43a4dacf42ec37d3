"""Force hang-up of a call the live state does not know: still the double uuid_kill.

The worker asks FreeSWITCH for the leg's signal_bond (`uuid_getvar`) before killing, and, with
several nodes and no `node`, finds the node holding the call (`uuid_exists` on each). Run
in-process against wire-level peers; the exact command lines are checked.
"""
import pytest

from app.esl.errors import EslUnavailable
from app.extensions import db
from app.models import Action, AuditEntry
from tests.eslpeer import EslPeer
from tests.support.actions import lines, purge_actions_queue, use_nodes
from workers.tasks import actions as tasks

X = "5d5e6a4c-2a2f-4a8e-9b59-0c8f3e6c1a01"     # a call the state never saw
Y = "8f0c2d7e-7f3b-4e55-8b1a-2c9d4e6f8a02"     # its other leg (signal_bond)


def accepted(client, tokens, uuid=X, **body):
    r = client.post(f"/api/v1/calls/{uuid}/hangup", headers=tokens["supervisor"], json=body)
    assert r.status_code == 202, r.get_json()
    return r.get_json()


def row(action_id) -> Action:
    db.session.expire_all()
    return db.session.get(Action, action_id)


def bridged(peer, a=X, b=Y):
    """FreeSWITCH holds a bridged pair: both legs, each the other's signal_bond."""
    peer.channels.update({a, b})
    peer.api.variables[(a, "signal_bond")] = b
    peer.api.variables[(b, "signal_bond")] = a


@pytest.fixture
def peers(monkeypatch, settings, app):
    purge_actions_queue(settings)
    with EslPeer() as fs1, EslPeer() as fs2:
        yield fs1, fs2
    purge_actions_queue(settings)


def test_one_node_the_bond_comes_from_uuid_getvar(client, tokens, peers, monkeypatch, settings,
                                                  app_ctx):
    fs1, _ = peers
    use_nodes(monkeypatch, settings, fs1=fs1)
    bridged(fs1)
    body = accepted(client, tokens)
    assert body["node"] == "fs1"
    tasks.hangup.run(body["id"])
    assert lines(fs1) == [f"api uuid_getvar {X} signal_bond", f"api uuid_kill {X}",
                          f"api uuid_kill {Y}"]
    done = row(body["id"])
    assert done.state == "succeeded"
    assert done.reply == (f"uuid_getvar {X} signal_bond: {Y}\nuuid_kill {X}: +OK\n"
                          f"uuid_kill {Y}: +OK")
    assert done.params["calls"] == [{"uuid": X, "bond": Y, "node": "fs1", "bond_checked": True}]
    assert fs1.channels == set()


def test_no_bond_or_no_channel_means_one_kill(client, tokens, peers, monkeypatch, settings,
                                              app_ctx):
    fs1, _ = peers
    use_nodes(monkeypatch, settings, fs1=fs1)
    fs1.channels.add(X)                        # ringing, not bridged: signal_bond unset
    first = accepted(client, tokens, cause="user_busy")["id"]
    tasks.hangup.run(first)
    assert lines(fs1) == [f"api uuid_getvar {X} signal_bond", f"api uuid_kill {X} USER_BUSY"]
    assert row(first).state == "succeeded"
    assert row(first).reply == f"uuid_getvar {X} signal_bond: _undef_\nuuid_kill {X} USER_BUSY: +OK"
    second = accepted(client, tokens)["id"]    # gone now
    tasks.hangup.run(second)
    assert lines(fs1)[2:] == [f"api uuid_getvar {X} signal_bond", f"api uuid_kill {X}"]
    done = row(second)
    assert done.state == "succeeded" and done.reply.count("-ERR No such channel!") == 2


def test_several_nodes_the_worker_finds_the_one_holding_the_call(client, tokens, peers,
                                                                 monkeypatch, settings, app_ctx):
    fs1, fs2 = peers
    use_nodes(monkeypatch, settings, fs1=fs1, fs2=fs2)
    bridged(fs2)
    body = accepted(client, tokens)            # was a 404 "say which node"
    assert body["node"] is None
    tasks.hangup.run(body["id"])
    assert lines(fs1) == [f"api uuid_exists {X}"]
    assert lines(fs2) == [f"api uuid_exists {X}", f"api uuid_getvar {X} signal_bond",
                          f"api uuid_kill {X}", f"api uuid_kill {Y}"]
    done = row(body["id"])
    assert done.state == "succeeded" and done.node == "fs2"
    assert done.reply.splitlines()[:2] == [f"uuid_exists {X} on fs1: false",
                                           f"uuid_exists {X} on fs2: true"]
    entry = db.session.execute(db.select(AuditEntry)).scalar_one()
    assert entry.node == "fs2" and entry.result.startswith("succeeded: ")


def test_a_given_node_is_used_without_asking_the_others(client, tokens, peers, monkeypatch,
                                                        settings, app_ctx):
    fs1, fs2 = peers
    use_nodes(monkeypatch, settings, fs1=fs1, fs2=fs2)
    bridged(fs2)
    body = accepted(client, tokens, node="fs2")
    tasks.hangup.run(body["id"])
    assert lines(fs1) == []
    assert lines(fs2) == [f"api uuid_getvar {X} signal_bond", f"api uuid_kill {X}",
                          f"api uuid_kill {Y}"]


def test_on_no_node_it_is_already_gone(client, tokens, peers, monkeypatch, settings, app_ctx):
    fs1, fs2 = peers
    use_nodes(monkeypatch, settings, fs1=fs1, fs2=fs2)
    body = accepted(client, tokens)
    tasks.hangup.run(body["id"])
    assert lines(fs1) == lines(fs2) == [f"api uuid_exists {X}"]
    done = row(body["id"])
    assert done.state == "succeeded" and done.node is None
    assert done.reply.endswith(f"{X}: on no configured node (already gone)")


def test_an_unreachable_node_is_retried_unless_another_holds_the_call(client, tokens, peers,
                                                                      monkeypatch, settings,
                                                                      app_ctx):
    fs1, fs2 = peers
    use_nodes(monkeypatch, settings, fs1=fs1, fs2=fs2)
    fs1.stop()                                 # refused from now on
    first = accepted(client, tokens)["id"]
    with pytest.raises(EslUnavailable, match="cannot ask fs1"):
        tasks.hangup.run(first)                # fs2 says false; the call may be on fs1
    assert row(first).state == "retrying" and "fs1" in row(first).error
    assert lines(fs2) == [f"api uuid_exists {X}"]
    bridged(fs2)
    tasks.hangup.run(first)                    # the retry: now fs2 has it
    assert lines(fs2)[1:] == [f"api uuid_exists {X}", f"api uuid_getvar {X} signal_bond",
                              f"api uuid_kill {X}", f"api uuid_kill {Y}"]
    assert row(first).state == "succeeded" and row(first).node == "fs2"


def test_a_retry_after_a_partial_run_still_kills_the_bond(client, tokens, peers, monkeypatch,
                                                          settings, app_ctx):
    """The bond is stored before any kill: after the first leg died its variables are gone."""
    fs1, _ = peers
    use_nodes(monkeypatch, settings, fs1=fs1)
    bridged(fs1)
    crash = {"once": True}

    def kill_y(args):                          # the node goes away while killing the bond
        if crash.pop("once", False):
            fs1.stop()
            return "+OK\n"
        return fs1.api._builtin_uuid_kill(args)

    fs1.api.set(f"uuid_kill {Y}", kill_y)
    action_id = accepted(client, tokens)["id"]
    with pytest.raises(EslUnavailable):
        tasks.hangup.run(action_id)
    assert row(action_id).state == "retrying"
    assert row(action_id).params["calls"][0]["bond"] == Y and fs1.channels == {Y}
    fs1.start()
    tasks.hangup.run(action_id)
    assert lines(fs1) == [f"api uuid_getvar {X} signal_bond", f"api uuid_kill {X}",
                          f"api uuid_kill {Y}",                  # lost with the connection
                          f"api uuid_kill {X}", f"api uuid_kill {Y}"]
    done = row(action_id)
    assert done.state == "succeeded" and fs1.channels == set()
    assert done.reply == f"uuid_kill {X}: -ERR No such channel!\nuuid_kill {Y}: +OK"


def test_the_commands_listed_at_request_time_say_what_will_be_asked(client, tokens, peers,
                                                                    monkeypatch, settings,
                                                                    app_ctx):
    fs1, fs2 = peers
    use_nodes(monkeypatch, settings, fs1=fs1, fs2=fs2)
    body = accepted(client, tokens, cause="NORMAL_CLEARING")
    got = client.get(body["href"], headers=tokens["supervisor"]).get_json()
    assert got["commands"] == [f"api uuid_exists {X}", f"api uuid_getvar {X} signal_bond",
                               f"api uuid_kill {X} NORMAL_CLEARING"]
