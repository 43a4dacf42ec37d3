"""The whole pipeline: wire-level peer → real listener process → real Celery worker → Redis.

The peer replays the capture phase by phase (register, re-register, unregister, wrong
password, the calls, expire, eavesdrop / three-way / whisper, re-registrations, unregister
with a new Call-ID); after each phase the SPEC outputs in Redis must equal what one in-order
pass over the same events gives.
"""
import dataclasses
import json

import pytest

from app.state.calls import list_calls
from app.state.events import slim_event
from app.state.ingest import apply_events
from tests.eslpeer import EslPeer, phase_events, phases
from tests.eslpeer.procs import state_pipeline, wait_for
from tests.eslpeer.broker import purge_queues
from tests.support.replay import NODE, outputs

pytestmark = pytest.mark.integration

START_US = 1795670519_000000        # FreeSWITCH's clock at the connect resync
IDLE_XML = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n'
            '  </registrations>\n</profile>\n')


def ordered_phases():
    return sorted(phases(), key=lambda name: phases()[name][0])


def reference(settings, rdb, events, now):
    rdb.flushdb()
    apply_events(rdb, settings, NODE, [e for e in (slim_event(dict(x), settings) for x in events)
                                       if e], now=now)
    out = outputs(rdb)
    rdb.flushdb()
    return out


def test_listener_and_worker_keep_redis_exact_phase_by_phase(app, rdb, settings, tmp_path):
    
    purge_queues(settings.celery_broker_url, "events", "celery")
    peer = EslPeer(api={"strmicroepoch": str(START_US),
                        "sofia xmlstatus profile internal reg": IDLE_XML,
                        "show channels as json": '{"row_count": 0}\n',
                        "show calls as json": '{"row_count": 0}\n'})
    with peer:
        # what one in-order pass gives, with the same node configuration as the worker's
        same = dataclasses.replace(settings, freeswitch=[peer.node(NODE)])
        names = ordered_phases()
        expected, sofar = {}, []
        for name in names:
            sofar += [w.event for w in phase_events(name)]
            expected[name] = reference(same, rdb, sofar, int(phases()[name][1] * 1_000_000))
        with state_pipeline(settings, tmp_path, NODE, peer, rdb) as wlog:
            for name in names:
                peer.replay(phase=name)
                want = expected[name]
                try:
                    wait_for(lambda: outputs(rdb) == want, 30, what=f"state after {name}")
                except AssertionError:
                    got = outputs(rdb)
                    for part in want:
                        for field in set(want[part]) | set(got[part]):
                            if want[part].get(field) != got[part].get(field):
                                print(part, field, "\nwant", json.dumps(want[part].get(field)),
                                      "\ngot ", json.dumps(got[part].get(field)))
                    raise
    final = outputs(rdb)
    # the Procfile's `ingest` process logs at INFO (the resync's task line is there) but not
    # the two routine lines of every event batch (workers/celery_app.py)
    log = wlog.read_text()
    assert "Task fscti.state.resync[" in log and " succeeded in " in log
    assert "fscti.ingest.events[" not in log
    final = outputs(rdb)
    assert {x for x, v in final["userinfo"].items() if "register" in v} == {"1001"}
    assert list_calls(client=rdb) == []
    assert final["calls"]["1003"]["notify"] == "hangup"
