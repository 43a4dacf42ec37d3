"""The listener's outbox (bounded, ordered) and when the publisher lets a batch go."""
import pytest

from workers.listener_outbox import Outbox, Publisher

CFG = {"batch_size": 500, "batch_delay_ms": 5.0, "batch_max_delay_ms": 25.0,
       "broker_retry_max": 5.0}


def publisher(**cfg) -> Publisher:
    # never started: only its batching rule is used (no broker is touched)
    return Publisher(celery=None, outbox=Outbox(1000, 500), stats={}, cfg=dict(CFG, **cfg))


def test_put_events_keeps_order_and_drops_what_does_not_fit():
    ob = Outbox(max_events=5, batch_size=3)
    assert ob.put_events("fs1", [{"n": 1}, {"n": 2}]) == 2
    ob.put_control("fs1", "fscti.state.resync", ["fs1", "connect", None])
    assert ob.put_events("fs1", [{"n": 3}, {"n": 4}, {"n": 5}, {"n": 6}]) == 3
    assert ob.overflowed == {"fs1"} and ob.events == 5
    assert ob.put_events("fs2", [{"n": 7}]) == 0 and ob.overflowed == {"fs1", "fs2"}
    kinds = [(it[0], it[1]["n"] if it[0] == "event" else it[1]) for it in ob.queues["fs1"]]
    assert kinds == [("event", 1), ("event", 2), ("control", "fscti.state.resync"),
                     ("event", 3), ("event", 4), ("event", 5)]
    assert ob.pending("fs1") == 6 and ob.pending("fs2") == 0


def test_a_quiet_node_sends_after_batch_delay():
    p = publisher()
    first = 100.0
    assert p._due(first, 1, first + 0.001) == pytest.approx(first + 0.005)
    # 5 events in 5 ms (1,000 events/s): the batch would need 500 ms to fill, so it goes now
    assert p._due(first, 5, first + 0.005) == first + 0.005
    assert p._due(first, 99, first + 0.006) == first + 0.006


def test_a_busy_node_waits_up_to_batch_max_delay_for_a_full_batch():
    p = publisher()
    first = 100.0
    # 100 events in 5 ms (20,000 events/s) fill 500 within 25 ms: wait for them
    assert p._due(first, 100, first + 0.005) == pytest.approx(first + 0.025)
    assert p._due(first, 300, first + 0.012) == pytest.approx(first + 0.025)
    # the rate fell: 200 events in 12 ms would take 30 ms to fill, go now
    assert p._due(first, 200, first + 0.012) == first + 0.012
    # full, or past the longer delay: go at once
    assert p._due(first, 500, first + 0.001) == first + 0.001
    assert p._due(first, 499, first + 0.025) == first + 0.025


def test_stopping_sends_at_once_and_max_delay_never_below_delay():
    p = publisher()
    p._stopping = True
    assert p._due(100.0, 1, 100.0) == 100.0
    p = publisher(batch_delay_ms=20.0, batch_max_delay_ms=5.0)
    assert p.max_delay == p.delay == 0.02
    assert p._due(100.0, 400, 100.02) == 100.02


def test_one_task_carries_every_node_with_events_once_one_batch_is_due():
    p = publisher()
    ob = p.outbox
    ob.own("fs1", 7, float("inf"))
    ob.own("fs2", 8, float("inf"))
    ob.own("fs3", 9, float("inf"))
    ob.put_events("fs1", [{"n": 1, "_received": 0.0}, {"n": 2, "_received": 0.0}], token=7)
    ob.put_events("fs2", [{"n": 3, "_received": 1e12}], token=8)     # not due on its own
    ob.put_control("fs3", "fscti.state.resync", ["fs3", "connect", None], token=9)
    ob.put_events("fs3", [{"n": 4, "_received": 0.0}], token=9)
    p._rr = 2                                            # fs3's control is looked at first
    assert p._next() == [("fs3", [("control", "fscti.state.resync", ["fs3", "connect", None])], 9)]
    ob.queues["fs3"].popleft()
    parts = p._next()
    # fs1 is due; fs2 and fs3 go in the same task, fs2 earlier than it would alone
    assert sorted((n, [it[1]["n"] for it in items], tok) for n, items, tok in parts) == [
        ("fs1", [1, 2], 7), ("fs2", [3], 8), ("fs3", [4], 9)]
