"""GET /metrics in this process (real Redis and SQL): what the directory counts, the guard,
and that docs/operations.md and docs/grafana-dashboard.json name exactly the real metrics.
(Several processes summing into one /metrics: tests/integration/test_metrics_processes.py.)"""
import json
import re
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.directory import lookup as lookup_mod
from tests.support.directory_lookup import (BASE, dead_reader, add_ext, ask, d, dead_url,  # noqa: F401
                                      post)  # (d, dead_url: fixtures)

DOCS = Path(__file__).resolve().parents[2] / "docs"


def scrape(client) -> dict:
    r = client.get("/metrics")
    assert r.status_code == 200, r.data
    assert r.headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def families(client) -> dict[str, str]:
    """name -> type of every fscti_ family /metrics shows (counters without `_total`)."""
    text = client.get("/metrics").get_data(as_text=True)
    return {f.name: f.type for f in text_string_to_metric_families(text)
            if f.name.startswith("fscti_")}


def outcome(values, name) -> float:
    return values.get(("fscti_directory_lookups_total", (("outcome", name),)), 0.0)


def test_every_lookup_is_counted_by_its_outcome(client, d):
    dom = d
    add_ext(dom, "1009", enabled=False, param={"password": "x"})
    before = scrape(client)
    ask(client, "1001")                       # a user (Redis; then cached)
    ask(client, "1001")                       # the same, from the answer cache
    ask(client, "1009")                       # disabled
    ask(client, "1009")                       # disabled, from the answer cache (its entry says so)
    ask(client, "4444")                       # not in the mirror: SQL says unknown
    ask(client, "4444")                       # remembered: unknown, without SQL
    ask(client, "1001", domain="nowhere.example")  # unknown domain (SQL says so)
    after = scrape(client)
    delta = {o: outcome(after, o) - outcome(before, o) for o in
             ("user", "disabled", "unknown", "sql-fallback", "not-found", "refused", "error")}
    assert delta == {"user": 2, "disabled": 2, "unknown": 1, "sql-fallback": 2, "not-found": 0,
                     "refused": 0, "error": 0}
    count = "fscti_directory_lookup_seconds_count", ()
    assert after[count] - before.get(count, 0) == 7
    hits = after[("fscti_directory_answer_cache_total", (("result", "hit"),))] - \
        before[("fscti_directory_answer_cache_total", (("result", "hit"),))]
    assert hits >= 2


def test_refused_and_failed_lookups_are_counted(client, d, app_ctx, dead_url):
    ask(client, "1002")                    # the domain's head is known from now on
    before = scrape(client)
    r = post(client, BASE + [("user", "1001")], environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert r.status_code == 403
    dead_reader(dead_url)                 # Redis refuses connections (a real dead port) ...
    real_sql = lookup_mod.sql_lookup       # ... and SQL fails (its failure stands in here)
    lookup_mod.sql_lookup = lambda *a: (_ for _ in ()).throw(RuntimeError("sql down"))
    try:
        ask(client, "1001")                # the domain without users, never a 5xx
    finally:
        lookup_mod.sql_lookup = real_sql
    after = scrape(client)
    assert outcome(after, "refused") - outcome(before, "refused") == 1
    assert outcome(after, "error") - outcome(before, "error") == 1


def test_the_breaker_gauge_opens_with_redis_down_and_closes_when_it_answers(client, d, app_ctx,
                                                                            dead_url):
    from app.directory.clients import for_app

    trips = scrape(client).get(("fscti_directory_redis_breaker_trips_total", ()), 0)
    dirx = dead_reader(dead_url)
    ask(client, "1002")                    # Redis refused: answered from SQL, breaker open
    values = scrape(client)
    assert values[("fscti_directory_redis_breaker_open", ())] == 1
    assert values[("fscti_directory_redis_breaker_trips_total", ())] == trips + 1
    dirx.reader = for_app(app_ctx).reader  # Redis is back ...
    dirx.down_until = time.monotonic() - 1  # ... and the breaker's second is over
    ask(client, "1003")
    assert scrape(client)[("fscti_directory_redis_breaker_open", ())] == 0


def test_metrics_is_refused_outside_the_directory_allowlist(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    assert client.get("/metrics").status_code == 200  # 127.0.0.1: allowed by default


def test_queue_depths_and_dependencies_are_read_at_scrape_time(client, app):
    celery = app.extensions["celery"]
    with celery.connection_for_write() as conn:
        conn.default_channel.client.delete("actions")
        for _ in range(3):
            celery.send_task("fscti.actions.settle", args=["no-such-action"], queue="actions",
                             connection=conn)
    try:
        values = scrape(client)
        assert values[("fscti_celery_queue_length", (("queue", "actions"),))] == 3
        for dep in ("sql", "redis", "broker"):
            assert values[("fscti_dependency_up", (("dependency", dep),))] == 1
    finally:
        with celery.connection_for_write() as conn:
            conn.default_channel.client.delete("actions")


# --- the documentation and the dashboard name the real metrics ---------------------------

def documented() -> dict[str, str]:
    """name -> type from the metrics table of docs/operations.md."""
    rows = re.findall(r"^\| `(fscti_[a-z_]+)` \| (counter|gauge|histogram) \|",
                      (DOCS / "operations.md").read_text(), re.M)
    assert rows, "no metrics table in docs/operations.md"
    return dict(rows)


def test_every_metric_is_documented_and_every_documented_metric_exists(client, app):
    real = families(client)
    assert documented() == real


def test_the_dashboard_is_valid_json_naming_real_metrics_only(client):
    real = families(client)
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs
    named = set()
    for expr in exprs:
        for name in re.findall(r"\bfscti_[a-z_]+", expr):
            base = re.sub(r"_(total|bucket|sum|count)$", "", name)
            assert base in real, f"{name} in the dashboard is no metric"
            suffix = name[len(base):]
            if real[base] == "counter":
                assert suffix == "_total", f"{name}: a counter is queried as {base}_total"
            elif real[base] == "histogram":
                assert suffix in ("_bucket", "_sum", "_count"), name
            else:
                assert suffix == "", name
            named.add(base)
    assert named == set(real), f"metrics without a panel: {sorted(set(real) - named)}"


# --- health -----------------------------------------------------------------------------

def _status(rdb, node, **values):
    import time

    from app.state import keys

    status = {"connected": True, "last_event_at": time.time() - 2, "reconnects": 1,
              "updated_at": time.time(), "last_error": ""}
    status.update(values)
    rdb.set(keys.listener_status(node), json.dumps(status))


@pytest.fixture
def two_nodes(app):
    from app.config.nodes import FreeSwitchNode

    settings = app.config["FSCTI"]
    saved = settings.freeswitch
    settings.freeswitch = [FreeSwitchNode("fs1", "127.0.0.1", 8021, "ClueCon"),
                           FreeSwitchNode("fs2", "127.0.0.1", 8022, "ClueCon")]
    yield settings
    settings.freeswitch = saved


def test_health_needs_a_token_and_shows_each_node(client, tokens, rdb, two_nodes):
    import time

    from app.state import keys

    assert client.get("/api/v1/health").status_code == 401
    _status(rdb, "fs1")
    _status(rdb, "fs2", connected=False, updated_at=time.time() - 3600, last_error="refused")
    rdb.hset(keys.node("fs1"), mapping={"resync_at": str(int((time.time() - 10) * 1e6)),
                                        "resync_reason": "connect"})
    r = client.get("/api/v1/health", headers=tokens["viewer"])
    assert r.status_code == 200, r.json
    body = r.json
    assert body["status"] == "degraded"
    assert body["checks"] == {"sql": "ok", "redis": "ok", "broker": "ok", "listener": "stale"}
    assert set(body["queues"]) == {"events", "actions", "celery"}
    fs1, fs2 = body["nodes"]
    assert fs1["node"] == "fs1" and fs1["esl"] == "up" and fs1["listener"] == "ok"
    assert 1 < fs1["last_event_age_s"] < 60 and 9 < fs1["last_resync_age_s"] < 60
    assert fs1["last_resync_reason"] == "connect" and fs1["reconnects"] == 1
    assert fs2["listener"] == "stale" and fs2["esl"] == "unknown" and fs2["last_error"] == "refused"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "degraded"
    assert "queues" not in ready.json
    values = scrape(client)
    assert 1 < values[("fscti_node_last_event_age_seconds", (("node", "fs1"),))] < 60
    assert values[("fscti_listener_heartbeat_age_seconds", (("node", "fs2"),))] > 3000


def test_readyz_is_ok_when_every_node_is_up(client, rdb, two_nodes):
    _status(rdb, "fs1")
    _status(rdb, "fs2")
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json["status"] == "ok", r.json
    assert [n["esl"] for n in r.json["nodes"]] == ["up", "up"]


def test_a_garbage_status_key_reads_as_absent(client, rdb, two_nodes):
    from app.state import keys

    rdb.set(keys.listener_status("fs1"), "{not json")
    rdb.set(keys.listener_status("fs2"), "[1, 2]")
    r = client.get("/readyz")
    assert r.status_code == 200
    assert [(n["listener"], n["esl"]) for n in r.json["nodes"]] == [("absent", "unknown")] * 2


def test_a_sweep_is_counted_per_node_and_an_unconfigured_node_as_other(app_ctx, rdb, two_nodes):
    from prometheus_client import REGISTRY

    from app.state import keys
    from workers.tasks import state as state_tasks

    def swept(node):
        return REGISTRY.get_sample_value("fscti_state_sweeps_total", {"node": node}) or 0.0

    before = {n: swept(n) for n in ("fs1", "fs2", "other")}
    rdb.sadd(keys.nodes(), "old-node")       # events once came from a node no longer configured
    broker = app_ctx.extensions["celery"]
    try:
        done = state_tasks.tick.run()    # queues the periodic resyncs on the real broker
    finally:
        with broker.connection_for_write() as conn:
            conn.default_channel.client.delete("events")
    assert sorted(done["swept"]) == ["fs1", "fs2", "old-node"]
    assert {n: swept(n) - before[n] for n in before} == {"fs1": 1, "fs2": 1, "other": 1}
