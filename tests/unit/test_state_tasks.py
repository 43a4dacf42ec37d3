"""The Celery task functions of the state, called directly (the worker runs them the same way)."""
import dataclasses

from app.config import FreeSwitchNode
from app.state.calls import list_calls
from tests.support.replay import NODE, outputs, phase_us, slim_events, until


def test_ingest_task_applies_a_batch_and_skips_bad_input(app, rdb, settings, caplog):
    from workers.tasks.ingest import events as ingest

    t = phase_us("call1_caller_hangup:bridged")
    batch = until(slim_events(settings), t)
    batch.insert(3, {"Event-Name": "CHANNEL_ANSWER", "Unique-ID": "bad"})
    ingest.apply(args=(NODE, batch)).get()
    assert len(list_calls(client=rdb)) == 2
    assert "malformed" in caplog.text
    # arguments that are not (node, list) are logged and dropped, never a crash
    caplog.clear()
    assert ingest.apply(args=(NODE, "not a list")).get() is None
    assert "not JSON" in caplog.text
    assert ingest.apply(args=(NODE, '{"Event-Name": "HEARTBEAT"}')).get() is None
    assert ingest.apply(args=(None, [])).get() is None
    assert caplog.text.count("bad arguments") == 3


def test_ingest_task_takes_the_batch_as_json_text_as_the_listener_sends_it(app, rdb, settings):
    import json

    from workers.tasks.ingest import events as ingest

    t = phase_us("call1_caller_hangup:bridged")
    batch = until(slim_events(settings), t)
    ingest.apply(args=(NODE, batch)).get()
    expected = outputs(rdb)
    rdb.flushdb()
    ingest.apply(args=(NODE, json.dumps(batch))).get()
    assert outputs(rdb) == expected and len(list_calls(client=rdb)) == 2


def test_batches_task_applies_every_node_part_and_skips_bad_parts(app, rdb, settings, caplog):
    """fscti.ingest.batches (one listener's nodes in one task) gives the state one
    fscti.ingest.events per node gives; a bad part is logged and skipped, the rest applied."""
    import json

    from workers.tasks.ingest import batches, events as ingest

    t = phase_us("call1_caller_hangup:bridged")
    batch = until(slim_events(settings), t)
    half = len(batch) // 2
    ingest.apply(args=(NODE, batch[:half])).get()
    ingest.apply(args=(NODE, batch[half:])).get()
    expected = outputs(rdb)
    rdb.flushdb()
    parts = [[NODE, batch[:half]], "not a part", [NODE, batch[half:], "x"], [None, []],
             [NODE, batch[half:]]]
    batches.apply(args=(json.dumps(parts),)).get()
    assert outputs(rdb) == expected and len(list_calls(client=rdb)) == 2
    assert "bad part" in caplog.text and caplog.text.count("bad arguments") == 2
    caplog.clear()
    assert batches.apply(args=("[not json",)).get() is None
    assert batches.apply(args=('{"a": 1}',)).get() is None
    assert "not JSON" in caplog.text and "not a list" in caplog.text


def test_tick_task_sweeps_and_enqueues_resyncs(app, rdb, settings, monkeypatch):
    from tests.eslpeer.broker import BrokerQueue
    from workers.tasks import state

    queue = BrokerQueue(settings.celery_broker_url, "events")
    queue.purge()
    s = dataclasses.replace(settings, freeswitch=[FreeSwitchNode("fs7", "127.0.0.1", 1)])
    monkeypatch.setitem(app.config, "FSCTI", s)
    state.tick.apply().get()
    state.tick.apply().get()                     # not due again: nothing more is sent
    sent = queue.drain()
    queue.purge()
    assert [(m.task, m.args) for m in sent] == [("fscti.state.resync", ["fs7", "periodic", None])]
    assert outputs(rdb)["userinfo"] == {}
