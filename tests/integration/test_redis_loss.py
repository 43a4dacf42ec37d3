"""Redis loses its data under a running worker and listener (real processes, a private
redis-server holding both the data and the Celery broker, the wire-level peer as FreeSWITCH):
the loss is noticed, the mirror rebuilt and the node resynced, once; a restart that kept the
data (AOF) is reconciled and resynced, not rebuilt."""
import dataclasses
import json
import re
import shutil
import time

import pytest

from app import create_app
from app.extensions import db
from app.mirror.reconcile import reconcile
from app.models import Domain, Extension
from app.state import keys
from tests.eslpeer import EslPeer
from tests.eslpeer.procs import (PIPELINE_FAST, listener_cmd, log_text, process_env, running,
                                 wait_for, worker_cmd)
from tests.support.factories import mk_ext
from tests.support.replay import NODE, api_output
from tests.support.redis_server import RedisServer, needs_redis_server

pytestmark = [pytest.mark.integration, needs_redis_server]

D = "loss.example"
N = 300
XML = api_output("api sofia xmlstatus profile internal reg")
T_REG = 1795670526_500000
REGISTERED = {"1001", "1002", "1003"}
FAST = dict(PIPELINE_FAST, FSCTI_LISTENER_REDIS_CHECK_INTERVAL="0.2")


@pytest.fixture
def sql(app_ctx):
    d = Domain(name=D, realm=D, param={}, variable={})
    db.session.add(d)
    db.session.flush()
    db.session.add_all([Extension(domain=d, name=str(1000 + i), param={"password": f"p{i}"})
                        for i in range(N)])
    db.session.commit()
    return d


@pytest.fixture
def peer():
    with EslPeer(api={"strmicroepoch": str(T_REG),
                      "sofia xmlstatus profile internal reg": XML,
                      "show channels as json": '{"row_count": 0}\n',
                      "show calls as json": '{"row_count": 0}\n'}) as p:
        yield p


def resyncs(peer) -> int:
    return sum(1 for c in peer.commands() if c == "api strmicroepoch")


def registered(r) -> set:
    """Extensions with a registration (the peer's table: domain 127.0.0.1)."""
    return {x for x, v in r.hgetall(keys.userinfo("127.0.0.1")).items()
            if "register" in json.loads(v)}


def healed(r, n=N):
    return r.hget(keys.generation(), "state") == "ok" and r.hlen(keys.exten(D)) == n


def state(r) -> dict:
    return r.hgetall(keys.generation())


def test_data_loss_heals_once_and_a_restart_with_data_is_not_rebuilt(sql, peer, settings,
                                                                      tmp_path, tokens, caplog):
    srv = RedisServer("--appendonly", "yes").start()
    try:
        s = dataclasses.replace(settings, redis_url=srv.url_for(1),
                                celery_broker_url=srv.url_for(2),
                                celery_result_backend=srv.url_for(2))
        env = process_env(s, tmp_path, nodes=[(NODE, peer)], extra=FAST)
        wlog, llog = tmp_path / "worker.log", tmp_path / "listener.log"
        with running(worker_cmd(queues="events,celery", concurrency=2), env, wlog), \
                running(listener_cmd(), env, llog):
            r = srv.client(1, decode_responses=True)

            def back(reason, timeout=60, n=N):
                t0 = time.monotonic()
                wait_for(lambda: (healed(r, n) and registered(r) == REGISTERED
                                  and r.hget(keys.node(NODE), "resync_reason") == reason),
                         timeout, what=f"heal ({reason})", log=wlog)
                print(f"{reason}: healed {time.monotonic() - t0:.2f}s after Redis answered")
                return state(r)

            def heals():
                return log_text(wlog).count("Redis healed (generation")

            def rebuilds():
                return len(re.findall(rf"rebuilt {re.escape(D)}: \d+ extensions", log_text(wlog)))

            # 1. a Redis that never held fscti's data: one loss, healed
            peer.wait_subscribed(timeout=30)
            first = back("redis-lost")
            # the heal logs its line after its second mirror pass, once the state is back
            wait_for(lambda: heals() == 1, 10, what="the heal's log line", log=wlog)
            assert first["reason"] == "lost" and heals() == 1 and rebuilds() == 1
            # 2. FLUSHALL (the broker's queues go too) and, at once, API writes from a web
            # process of this deployment: whether each lands before the loss is noticed, while
            # the heal runs or after, nothing is lost, nothing is partial, one heal runs.
            web = create_app(s, TESTING=True)
            api = web.test_client()
            before = resyncs(peer)
            srv.client().flushall()
            mk_ext(api, tokens["admin"], "7001", domain=D, param={"password": "new-1"})
            assert api.patch(f"/api/v1/domains/{D}/extensions/1005",
                             json={"param": {"password": "changed"}},
                             headers=tokens["admin"]).status_code == 200
            mk_ext(api, tokens["admin"], "7002", domain=D, param={"password": "new-2"})
            assert api.delete(f"/api/v1/domains/{D}/extensions/1009",
                              headers=tokens["admin"]).status_code == 204
            flushed = back("redis-lost", n=N + 1)
            assert flushed["id"] != first["id"] and flushed["reason"] == "lost"
            wait_for(lambda: heals() == 2, 10, what="the heal's log line", log=wlog)
            assert rebuilds() == 2 and resyncs(peer) == before + 1
            assert json.loads(r.hget(keys.exten(D), "1005"))["param"]["password"] == "changed"
            assert json.loads(r.hget(keys.exten(D), "7002"))["param"]["password"] == "new-2"
            assert not r.hexists(keys.exten(D), "1009")
            with web.app_context():
                assert reconcile(repair=False).total == 0
            n_now = N + 1
            # 3. restarted with its data (AOF): same generation, reconciled, not rebuilt
            r.hdel(keys.exten(D), "1007")              # a write the restart "lost"
            srv.stop()
            srv.start()
            kept = back("redis-restarted", n=n_now)
            assert kept["id"] == flushed["id"] and kept["reason"] == "restarted"
            assert kept["run_id"] != flushed["run_id"]
            wait_for(lambda: heals() == 3, 10, what="the heal's log line", log=wlog)
            assert rebuilds() == 2 and r.hexists(keys.exten(D), "1007")
            # 4. restarted empty (its files gone, as a failover to an empty replica): rebuilt
            srv.stop()
            for f in srv.dir.iterdir():
                if f.name != srv.log.name:
                    shutil.rmtree(f) if f.is_dir() else f.unlink()
            srv.start()
            empty = back("redis-lost", n=n_now)
            assert empty["id"] != flushed["id"]
            wait_for(lambda: heals() == 4, 10, what="the heal's log line", log=wlog)
            assert rebuilds() == 3
            text = log_text(wlog) + log_text(llog)
            assert "Traceback" not in text, text[-4000:]
            # Three losses, each claimed once: by the listener's check, the tick, or (after the
            # FLUSHALL) possibly by one of this web process's mirror writes.
            here = sum("Redis lost its data" in x.getMessage() for x in caplog.records)
            assert (log_text(llog).count("Redis lost its data")
                    + log_text(wlog).count("Redis lost its data") + here) == 3
    finally:
        srv.close()
