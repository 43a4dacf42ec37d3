"""GET /metrics: Prometheus text format, for this host's fscti processes and the cluster.

Protected like /directory: only clients in `directory.allow` (docs/configuration.md), checked
against the same address /directory sees (behind `web.trusted_proxies`, the forwarded one).
What it shows:
- with `PROMETHEUS_MULTIPROC_DIR` set (Procfile, `make run`): the sum over every process of
  this host that writes there (web workers, Celery children, the listener, beat);
  otherwise only this process;
- read from Redis and the broker at scrape time, the same on every web (take max() across
  instances): queue depths, each node's listener heartbeat, last event and last resync, and
  whether SQL, Redis and the broker answer.
`flask metrics serve` exports a host's directory on its own port where no web runs.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from app.metrics import process
from app.metrics.directory import meter

bp = Blueprint("metrics", __name__)


class ClusterCollector:
    """Gauges read at scrape time from SQL, Redis and the broker (not per process)."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        from app.services import health

        settings = self.app.config["FSCTI"]
        up = GaugeMetricFamily("fscti_dependency_up", "1 when the dependency answers this web",
                               labels=["dependency"])
        checks = {"sql": health.sql(), "redis": health.redis()}
        checks["broker"], depths = health.broker(self.app.extensions["celery"])
        for name, result in checks.items():
            up.add_metric([name], 1.0 if result == "ok" else 0.0)
        yield up
        queue = GaugeMetricFamily("fscti_celery_queue_length", "Messages waiting in a Celery queue",
                                  labels=["queue"])
        for name, n in depths.items():
            queue.add_metric([name], float(n))
        yield queue
        families = {
            "listener_heartbeat_age_s": GaugeMetricFamily(
                "fscti_listener_heartbeat_age_seconds",
                "Age of the listener's status for a node (written every listener.status_interval)",
                labels=["node"]),
            "last_event_age_s": GaugeMetricFamily(
                "fscti_node_last_event_age_seconds",
                "Seconds since the listener read the node's last event", labels=["node"]),
            "last_resync_age_s": GaugeMetricFamily(
                "fscti_node_last_resync_age_seconds", "Seconds since the node's last resync",
                labels=["node"]),
        }
        nodes = health.nodes(settings) if checks["redis"] == "ok" else []
        for node in nodes:
            for field, family in families.items():
                if node[field] is not None:
                    family.add_metric([node["node"]], float(node[field]))
        yield from families.values()


def _guard_refuses() -> Response | None:
    from app.allowlist import guard_of

    guard = guard_of(current_app)
    if guard.networks and not guard.allowed(request.environ.get("REMOTE_ADDR", "")):
        return Response("forbidden\n", 403, mimetype="text/plain")
    return None


def exposition(app) -> bytes:
    """The text of /metrics for `app`'s process and host."""
    meter.flush()
    path = process.directory()
    if path is None:
        local = generate_latest(REGISTRY)
    else:
        from prometheus_client import multiprocess

        process.prune_live_gauges()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)
        local = generate_latest(registry)
    cluster = CollectorRegistry()
    cluster.register(ClusterCollector(app))
    return local + generate_latest(cluster)


@bp.get("/metrics")
def metrics():
    """Prometheus metrics (text format 0.0.4)."""
    refused = _guard_refuses()
    if refused is not None:
        return refused
    return Response(exposition(current_app._get_current_object()), 200,
                    headers={"Content-Type": CONTENT_TYPE_LATEST})
