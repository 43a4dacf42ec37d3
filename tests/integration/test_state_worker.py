"""fscti.ingest.events and fscti.state.resync on a real Celery worker process (prefork, 3
processes), fed the real capture shuffled and duplicated, against the real Redis."""
import json
import random
import time

import pytest

from app.state import keys
from app.state.ingest import apply_events
from tests.eslpeer import EslPeer
from tests.eslpeer.procs import log_text, process_env, running, wait_for, worker_cmd
from tests.support.replay import NODE, api_output, outputs, phase_us, slim_events
from workers import ingest_codec
from tests.eslpeer.broker import purge_queues

pytestmark = pytest.mark.integration


@pytest.fixture
def clean_queues(settings):
    purge_queues(settings.celery_broker_url, "events", "celery")
    yield


def test_worker_applies_shuffled_duplicated_batches_exactly(app, rdb, settings, tmp_path,
                                                           clean_queues):
    end = phase_us("run_end")
    events = slim_events(settings)
    apply_events(rdb, settings, NODE, events, now=end)
    expected = outputs(rdb)
    rdb.flushdb()
    # the worker judges expiry by its own clock + the node's offset: align it with the capture
    rdb.hset(keys.node(NODE), "offset", end - time.time_ns() // 1000)
    rnd = random.Random(7)
    stream = events + rnd.sample(events, len(events) // 2)
    rnd.shuffle(stream)
    stream.insert(5, {"Event-Name": "CHANNEL_CREATE", "Unique-ID": "garbage"})   # malformed
    env = process_env(settings, tmp_path)
    log = tmp_path / "worker.log"
    with running(worker_cmd(queues="events", concurrency=3), env, log):
        celery = app.extensions["celery"]
        i = 0
        while i < len(stream):
            n = rnd.randint(1, 30)
            # a list or (as the listener sends it) its JSON text; Celery's json or the
            # listener's JSON + zlib: the same batches either way
            batch = stream[i:i + n] if rnd.random() < 0.5 else json.dumps(stream[i:i + n])
            serializer = "json" if rnd.random() < 0.5 else ingest_codec.SERIALIZER
            celery.send_task("fscti.ingest.events", args=[NODE, batch], queue="events",
                             serializer=serializer)
            i += n
        try:
            wait_for(lambda: outputs(rdb) == expected, 60, what="state equal to one in-order pass")
        except AssertionError:
            print(log_text(log)[-4000:])
            raise
        assert "malformed" in log_text(log)
    assert rdb.hget(keys.node(NODE), "core") == "8050275d-5ad7-48bd-8327-686409e2b53c"


def test_worker_resync_task_against_a_peer(app, rdb, settings, tmp_path, clean_queues):
    t = 1795670526_500000
    with EslPeer(api={"strmicroepoch": str(t),
                      "sofia xmlstatus profile internal reg":
                          api_output("api sofia xmlstatus profile internal reg")}) as peer:
        env = process_env(settings, tmp_path, nodes=[(NODE, peer)])
        log = tmp_path / "worker.log"
        with running(worker_cmd(queues="events", concurrency=1), env, log):
            app.extensions["celery"].send_task("fscti.state.resync", args=[NODE, "connect", None],
                                               queue="events")
            try:
                wait_for(lambda: len(outputs(rdb)["userinfo"]) == 3, 60, what="resync applied")
            except AssertionError:
                print(log_text(log)[-4000:])
                raise
    assert rdb.hget(keys.node(NODE), "resync_reason") == "connect"
    assert "api show calls as json" in peer.commands()
    assert set(outputs(rdb)["registrations"]) == {"1001", "1002", "1003"}
