"""workers.tasks.failover: a Redis failover is ridden out in place (backoff, a budget), the
call's own errors are not retried, and the budget's end re-raises for the task's retry."""
import pytest
import redis

from tests.support.net import HeldPort
from workers.tasks.failover import FAILOVER_BUDGET, through_failover


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, s):
        self.sleeps.append(s)
        self.now += s

    def __call__(self):
        return self.now


def test_retries_in_place_until_redis_answers(redis_url):
    """A real client on a dead port fails with redis-py's own error; the same call then
    succeeds on the real Redis once the 'failover' is over."""
    clock = Clock()
    with HeldPort() as dead:
        gone = redis.Redis.from_url(dead.url(), socket_connect_timeout=0.2)
        live = redis.Redis.from_url(redis_url)
        calls = []

        def call():
            calls.append(1)
            return (gone if len(calls) < 5 else live).incr("fscti:test:inplace")

        assert through_failover(call, "test", sleep=clock.sleep, clock=clock) == 1
    assert len(calls) == 5
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8]            # exponential backoff


def test_readonly_counts_as_failover_but_other_errors_do_not():
    clock = Clock()
    seen = []

    def readonly_then_ok():
        seen.append(1)
        if len(seen) == 1:
            raise redis.ReadOnlyError("You can't write against a read only replica.")
        return "ok"

    assert through_failover(readonly_then_ok, "t", sleep=clock.sleep, clock=clock) == "ok"
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        through_failover(lambda: (_ for _ in ()).throw(redis.ResponseError("WRONGTYPE x")), "t",
                         sleep=clock.sleep, clock=clock)


def test_the_budget_ends_with_the_error():
    clock = Clock()

    def down():
        raise redis.ConnectionError("still failing over")

    with pytest.raises(redis.ConnectionError, match="still failing over"):
        through_failover(down, "t", sleep=clock.sleep, clock=clock)
    assert clock.now == pytest.approx(FAILOVER_BUDGET)
    assert max(clock.sleeps) == 2.0                          # capped
