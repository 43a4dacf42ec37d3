"""/metrics sums real processes: gunicorn with three workers, a Celery prefork worker with two
children and the listener against the wire-level peer, all writing to one
PROMETHEUS_MULTIPROC_DIR, read through the web's GET /metrics."""
import glob
import http.client
import json
import os
import signal
import threading
from pathlib import Path

import pytest
import redis as redis_lib
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from app.directory.form import encode
from app.state import keys
from tests.support.directory_lookup import BASE, d  # noqa: F401  (d: fixture)
from tests.eslpeer import EslPeer
from tests.eslpeer.procs import (PIPELINE_FAST, listener_cmd, process_env, running, wait_for,
                                 worker_cmd)
from tests.support.web import procfile_web

pytestmark = pytest.mark.integration

NODE = "fs1"
IDLE_XML = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n'
            '  </registrations>\n</profile>\n')


def scrape(web) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        text = resp.read().decode()
        assert resp.status == 200, text
    finally:
        conn.close()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def lookup(web, user: str, domain: str) -> int:
    pairs = BASE + [("action", "sip_auth"), ("key", "id"), ("user", user), ("domain", domain)]
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    try:
        conn.request("POST", "/directory", body=encode(pairs),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def lookups_per_file(path) -> list[float]:
    """Per process file: how many lookups it counted (to see that several processes did)."""
    out = []
    for name in glob.glob(os.path.join(path, "counter_*.db")):
        total = 0.0
        for metric in MultiProcessCollector.merge([name], accumulate=True):
            if metric.name == "fscti_directory_lookups":
                total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
        out.append(total)
    return out


def outcome(values, name):
    return values.get(("fscti_directory_lookups_total", (("outcome", name),)), 0.0)


def test_web_workers_celery_children_and_the_listener_sum_into_one_metrics(
        app, d, rdb, settings, tmp_path):
    metrics_dir = tmp_path / "metrics"
    extra = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with procfile_web(settings, tmp_path, extra, workers=3) as web:
        assert metrics_dir.is_dir()  # created by the processes themselves
        statuses = []

        def client(i):
            for j in range(10):
                statuses.append(lookup(web, "1001", "127.0.0.1") if (i + j) % 2 else
                                lookup(web, "1001", "nowhere.example"))

        total = lambda v: sum(outcome(v, o) for o in ("user", "unknown", "disabled", "domain",  # noqa: E731
                                                      "not-found", "sql-fallback", "refused", "error"))
        # Rounds of 60 concurrent lookups until at least two workers served some: which sync
        # worker accepts a connection is the kernel's choice, and on an idle host one worker
        # can take them all.
        sent, per_file = 0, []
        while len(per_file) < 2 and sent < 1200:
            threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sent += 60
            values = wait_for(lambda: (lambda v: v if total(v) == sent else None)(scrape(web)),
                              10, what=f"{sent} lookups on /metrics (each web worker flushes "
                                       "every second)")
            per_file = [n for n in lookups_per_file(metrics_dir) if n]
        assert statuses == [200] * sent
        assert outcome(values, "user") == sent // 2
        # the unknown domain: SQL says so once per web process, then it is remembered
        assert outcome(values, "sql-fallback") + outcome(values, "not-found") == sent // 2
        assert 1 <= outcome(values, "sql-fallback") <= 3
        assert values[("fscti_directory_lookup_seconds_count", ())] == sent
        assert sum(per_file) == sent and len(per_file) >= 2, per_file  # several workers, one sum

        # a web worker ends (gunicorn starts another): its live gauges leave at once
        # (the child_exit hook), its counters stay in the sums
        live = sorted(glob.glob(os.path.join(metrics_dir, "gauge_livesum_*.db")))
        assert len(live) == 3, live          # the three workers; the master writes none
        gone = int(live[0].rpartition("_")[2][:-3])
        os.kill(gone, signal.SIGTERM)
        wait_for(lambda: not os.path.exists(live[0]) and
                 len(glob.glob(os.path.join(metrics_dir, "gauge_livesum_*.db"))) == 3, 20,
                 what="the ended worker's gauges removed and its successor's created",
                 log=web.log_path)
        assert total(scrape(web)) == sent

        # --- events: the listener and a prefork worker, against the wire-level peer ----------
        broker = redis_lib.Redis.from_url(settings.celery_broker_url)
        broker.delete("events", "celery")
        peer = EslPeer(api={"strmicroepoch": "1795670519000000",
                            "sofia xmlstatus profile internal reg": IDLE_XML,
                            "show channels as json": '{"row_count": 0}\n',
                            "show calls as json": '{"row_count": 0}\n'})
        with peer:
            env = process_env(settings, tmp_path, nodes=[(NODE, peer)],
                              extra={**PIPELINE_FAST, **extra})
            wlog, llog = tmp_path / "worker.log", tmp_path / "listener.log"
            with running(worker_cmd(queues="events", concurrency=2), env, wlog), \
                    running(listener_cmd(), env, llog):
                peer.wait_subscribed(timeout=20)
                wait_for(lambda: rdb.hget(keys.node(NODE), "resync_reason"), 30,
                         what="the connect resync", log=wlog)
                sent = 0
                for phase in ("register_1001_1002", "call1_caller_hangup"):
                    sent += len(peer.replay(phase=phase))
                assert sent > 10

                def status():
                    raw = rdb.get(keys.listener_status(NODE))
                    st = json.loads(raw) if raw else {}
                    done = st.get("received") == sent and \
                        st.get("enqueued") == sent - st.get("filtered", 0)
                    return st if done else None

                st = wait_for(status, 20, what=f"the listener enqueuing {sent} events", log=llog)
                kept = st["enqueued"]

                def applied():
                    v = scrape(web)
                    return v if v.get(("fscti_events_batch_size_sum", ())) == kept else None

                v = wait_for(applied, 20, what="every event applied, on /metrics", log=wlog)
                node = (("node", NODE),)
                assert v[("fscti_events_received_total", node)] == st["received"] == sent
                assert v[("fscti_events_enqueued_total", node)] == kept
                assert v.get(("fscti_events_dropped_total", node), 0) == 0
                assert v[("fscti_esl_connected", node)] == 1
                batches = v[("fscti_events_batch_size_count", ())]
                assert 1 <= batches <= sent
                assert v[("fscti_events_apply_seconds_count", ())] == batches
                assert v[("fscti_state_lag_seconds_count", ())] == batches
                ok = (("node", NODE), ("reason", "connect"), ("result", "ok"))
                assert v[("fscti_resyncs_total", ok)] == 1
                assert v[("fscti_dependency_up", (("dependency", "broker"),))] == 1
            # the listener stopped (SIGTERM): its connection gauge leaves the sums
            after = scrape(web)
            assert after.get(("fscti_esl_connected", (("node", NODE),)), 0) == 0
            assert after[("fscti_events_received_total", (("node", NODE),))] == sent  # counters stay


def multiprocess_values(path) -> dict:
    """Every sample the processes wrote to `path`, summed as /metrics sums them."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for metric in registry.collect() for s in metric.samples}


def test_an_action_is_counted_by_kind_and_final_state_with_its_wire_latency(
        app, app_ctx, client, tokens, rdb, settings, tmp_path, monkeypatch):
    from tests.support.action_pipeline import refused_supervision

    broker = redis_lib.Redis.from_url(settings.celery_broker_url)
    broker.delete("actions", "events", "celery")
    metrics_dir = tmp_path / "metrics"
    with refused_supervision(monkeypatch, settings, tmp_path, client, tokens,
                             {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}) as (_, failed, wlog):
        assert failed.state == "failed"
        values = wait_for(
            lambda: (lambda v: v if v.get(("fscti_actions_total", (
                ("kind", "supervise"), ("state", "failed")))) == 1 else None)(
                multiprocess_values(metrics_dir)), 10, what="the action counted", log=wlog)
    assert values[("fscti_action_wire_seconds_count", (("kind", "supervise"),))] == 1
    assert 0 < values[("fscti_action_wire_seconds_sum", (("kind", "supervise"),))] < 30
    broker.delete("actions", "events", "celery")


def test_metrics_serve_exports_a_hosts_directory_where_no_web_runs(settings, tmp_path):
    import subprocess
    import sys

    from tests.eslpeer.procs import ROOT
    from tests.support.net import HeldPort

    metrics_dir = tmp_path / "metrics"
    env = process_env(settings, tmp_path, extra={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                                                 "FLASK_APP": "app:create_app"})
    writer = "from app import metrics; metrics.events_received.labels('fs1').inc(7)"
    subprocess.run([sys.executable, "-c", writer], cwd=ROOT, env=env, check=True, timeout=60)
    with HeldPort() as held:
        port = held.port
    flask = str(Path(sys.executable).parent / "flask")
    with running([flask, "metrics", "serve", "--port", str(port)], env, tmp_path / "serve.log"):
        def scraped():
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/metrics")
                return conn.getresponse().read().decode()
            except OSError:
                return None

        text = wait_for(scraped, 30, what="flask metrics serve answering",
                        log=tmp_path / "serve.log")
    # the writer has ended: its counter is still summed (never dropped: that would be a reset)
    assert 'fscti_events_received_total{node="fs1"} 7.0' in text
