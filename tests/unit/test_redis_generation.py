"""The generation marker (app/state/generation.py) against the real test Redis: a loss is claimed
by exactly one of many concurrent checkers, a new run_id is a restart (not a loss), a heal that
never finished is claimed again, and the beat tick queues the heal."""
import dataclasses
import threading
import time

import redis as redis_lib

from app.config import FreeSwitchNode
from app.state import generation, keys


def test_a_stamped_database_is_healthy(rdb):
    assert rdb.hget(keys.generation(), "state") == "ok"          # conftest stamped it
    assert generation.check(rdb) is None
    assert generation.stamp(rdb) is False                          # one exists: left alone


def test_a_loss_is_claimed_once_among_concurrent_checkers(rdb, redis_url):
    rdb.flushdb()
    claims, start = [], threading.Barrier(8)

    def checker():
        client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
        start.wait()
        claims.append(generation.check(client))

    threads = [threading.Thread(target=checker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [c for c in claims if c is not None]
    assert len(won) == 1 and won[0].reason == "lost" and not won[0].again
    marker = generation.current(rdb)
    assert marker["id"] == won[0].generation and marker["state"] == "healing"
    assert marker["run_id"] == generation.run_id(rdb)
    assert generation.check(rdb) is None                           # being healed
    assert generation.healed(rdb, won[0].generation)
    assert generation.current(rdb)["state"] == "ok" and "heal_until" not in generation.current(rdb)
    assert generation.healed(rdb, "someone-else") is False         # not that generation


def test_a_new_run_id_is_a_restart_with_the_data(rdb):
    gen = generation.current(rdb)["id"]
    rdb.hset(keys.generation(), "run_id", "0" * 40)                # the marker came from elsewhere
    claim = generation.check(rdb)
    assert claim == generation.Claim(gen, "restarted")
    assert generation.check(rdb) is None
    # a loss still being healed when the server restarted stays a loss
    rdb.hset(keys.generation(), mapping={"run_id": "1" * 40, "reason": "lost"})
    assert generation.check(rdb).reason == "lost"


def test_a_heal_that_never_finished_is_claimed_again(rdb):
    rdb.flushdb()
    claim = generation.check(rdb, lease_ms=1)
    time.sleep(0.01)
    again = generation.check(rdb)
    assert again == generation.Claim(claim.generation, "lost", again=True)
    assert generation.check(rdb) is None
    assert generation.release(rdb, claim.generation)               # its task could not be queued
    assert generation.check(rdb).again


def test_a_failed_queue_releases_the_claim(rdb):
    rdb.flushdb()

    def broker_down(_claim):
        raise ConnectionError("broker down")

    try:
        generation.watch(rdb, broker_down, "a test")
    except ConnectionError:
        pass
    else:
        raise AssertionError("watch must let the queueing error through")
    assert generation.check(rdb).again                              # claimable at once


def test_tick_queues_the_heal_once_and_no_second_resync(app, rdb, settings, monkeypatch, caplog):
    from tests.eslpeer.broker import BrokerQueue
    from workers.tasks import state

    events, maintenance = (BrokerQueue(settings.celery_broker_url, q) for q in ("events", "celery"))
    events.purge()
    maintenance.purge()
    s = dataclasses.replace(settings, freeswitch=[FreeSwitchNode("fs7", "127.0.0.1", 1)])
    monkeypatch.setitem(app.config, "FSCTI", s)
    rdb.flushdb()
    done = state.tick.apply().get()
    state.tick.apply().get()
    heal = maintenance.drain()
    resyncs = events.drain()
    events.purge()
    maintenance.purge()
    gen = generation.current(rdb)["id"]
    assert done["heal"] == [gen, "lost"]
    assert [(m.task, m.args) for m in heal] == [("fscti.redis.heal", [gen, "lost"])]
    assert resyncs == []                        # the heal resyncs the node, not the tick
    assert caplog.text.count("Redis lost its data") == 1
