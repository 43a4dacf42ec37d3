"""The per-node lease and its fencing token, on the real Redis with the real state script:
acquire, renew, expire, release, the listeners' heartbeat, and a stale owner's batches
refused by the script in the same atomic run (nothing of them is written)."""
import time

import pytest

from app.state import keys, lease
from app.state.ingest import apply_events
from app.state.resync import drop_core
from tests.support.replay import NODE, outputs, phase_us, slim_events, until

pytestmark = pytest.mark.integration


def test_acquire_is_exclusive_and_each_acquisition_gets_a_larger_token(rdb):
    assert lease.holder(rdb, NODE) is None and lease.fence(rdb, NODE) == 0
    first = lease.acquire(rdb, NODE, "a", 3000)
    assert first == 1 and lease.fence(rdb, NODE) == 1
    assert lease.acquire(rdb, NODE, "b", 3000) is None      # held by a: b waits
    held = lease.holder(rdb, NODE)
    assert held["owner"] == "a" and held["token"] == 1 and 0 < held["ttl_ms"] <= 3000
    # the owner itself taking it again gets a new token (its old batches become stale)
    assert lease.acquire(rdb, NODE, "a", 3000) == 2
    assert lease.release(rdb, NODE, "a", 2)
    assert lease.holder(rdb, NODE) is None
    assert lease.acquire(rdb, NODE, "b", 3000) == 3
    # other nodes have their own fence
    assert lease.acquire(rdb, "fs2", "a", 3000) == 1


def test_renew_only_by_the_owner_with_its_token(rdb):
    token = lease.acquire(rdb, NODE, "a", 300)
    assert not lease.renew(rdb, NODE, "b", token, 5000)          # not the owner
    assert not lease.renew(rdb, NODE, "a", token + 1, 5000)      # not its token
    assert not lease.release(rdb, NODE, "b", token)              # b cannot free a's lease
    assert lease.renew(rdb, NODE, "a", token, 5000)
    assert lease.holder(rdb, NODE)["ttl_ms"] > 300


def test_an_unrenewed_lease_expires_and_another_takes_it(rdb):
    token = lease.acquire(rdb, NODE, "a", 200)
    assert lease.acquire(rdb, NODE, "b", 200) is None
    time.sleep(0.35)
    assert lease.holder(rdb, NODE) is None
    # expired, but no one took it since: a late renewal resumes it with the same token
    assert lease.renew(rdb, NODE, "a", token, 200)
    assert lease.holder(rdb, NODE)["token"] == token == lease.fence(rdb, NODE)
    time.sleep(0.35)
    assert lease.acquire(rdb, NODE, "b", 200) == token + 1
    assert not lease.renew(rdb, NODE, "a", token, 200)            # too late: b has it
    assert lease.holder(rdb, NODE)["owner"] == "b"


def test_after_redis_lost_its_data_the_owner_resumes_its_lease(rdb):
    token = lease.acquire(rdb, NODE, "a", 3000)
    lease.acquire(rdb, NODE, "a", 3000)
    token = lease.acquire(rdb, NODE, "a", 3000)
    assert token == 3
    rdb.flushdb()                                 # lease and fence gone
    assert lease.renew(rdb, NODE, "a", token, 3000)
    assert lease.fence(rdb, NODE) == token        # a later owner gets a larger token
    assert lease.acquire(rdb, NODE, "b", 3000) is None
    assert lease.release(rdb, NODE, "a", token)
    assert lease.acquire(rdb, NODE, "b", 3000) == token + 1


def test_heartbeat_counts_live_listeners_and_forgets_dead_ones(rdb):
    assert lease.heartbeat(rdb, "a", 5000) == 1
    assert lease.heartbeat(rdb, "b", 200) == 2
    assert lease.fair_share(3, 2) == 2 and lease.fair_share(3, 1) == 3
    time.sleep(0.3)
    assert lease.heartbeat(rdb, "a", 5000) == 1                   # b stopped heartbeating
    assert lease.leave(rdb, "a") == 0
    assert lease.fair_share(0, 0) == 0 and lease.fair_share(4, 3) == 2


@pytest.fixture
def events(settings):
    t = phase_us("call1_caller_hangup:bridged")
    return until(slim_events(settings), t), t


def test_the_state_script_refuses_a_stale_token_and_writes_nothing(rdb, settings, events):
    evs, t = events
    old = lease.acquire(rdb, NODE, "a", 3000)
    half = len(evs) // 2
    assert not apply_events(rdb, settings, NODE, evs[:half], now=t, token=old).stale
    before = outputs(rdb)
    keys_before = sorted(rdb.keys("*"))
    # b takes the node over (a was paused past its lease)
    rdb.delete(keys.node_lease(NODE))
    new = lease.acquire(rdb, NODE, "b", 3000)
    assert new == old + 1
    # a wakes up and sends the rest: refused whole, nothing written (no key, no field)
    stale = apply_events(rdb, settings, NODE, evs[half:], now=t, token=old)
    assert stale.stale and stale.applied == 0 and stale.fence == new
    assert outputs(rdb) == before and sorted(rdb.keys("*")) == keys_before
    # a resync's core change under the old token is refused too
    assert drop_core(rdb, settings, NODE, "another-core", now=t, token=old).stale
    assert outputs(rdb) == before
    # the same events under the new owner's token apply; unfenced (no token) still applies
    fresh = apply_events(rdb, settings, NODE, evs[half:], now=t, token=new)
    assert not fresh.stale and fresh.applied > 0
    assert outputs(rdb) != before
    assert not apply_events(rdb, settings, NODE, evs[:1], now=t).stale
    # Redis lost its data (no fence): any token is accepted until the owner writes it back
    rdb.delete(keys.node_fence(NODE))
    assert not apply_events(rdb, settings, NODE, evs, now=t, token=old).stale


def test_the_ingest_task_counts_and_logs_a_stale_batch(app, rdb, settings, events, caplog):
    from app import metrics
    from workers.tasks.ingest import events as ingest

    evs, _t = events
    old = lease.acquire(rdb, NODE, "a", 3000)
    rdb.delete(keys.node_lease(NODE))
    lease.acquire(rdb, NODE, "b", 3000)
    counter = metrics.events_stale.labels("other")   # fs1 is not configured in the tests
    before = counter._value.get()
    with app.app_context():
        ingest.run(NODE, evs, old)
    assert counter._value.get() - before == len(evs) > 10
    assert f"refused a batch of {len(evs)} event(s) sent under lease token 1" in caplog.text
    assert rdb.hlen("cti_userinfo@127.0.0.1") == 0
    with app.app_context():
        ingest.run(NODE, evs, "1")              # a token that is not an integer
    assert "is not an integer" in caplog.text
