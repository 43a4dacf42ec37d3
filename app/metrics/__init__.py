"""Prometheus metrics: every metric fscti exports, defined in one place (docs/operations.md
lists them with their labels and meaning; tests check the two agree).

Multiprocess mode. gunicorn workers, Celery prefork children and the listener are separate
processes; each writes its values to memory-mapped files in `PROMETHEUS_MULTIPROC_DIR`
(one directory per host, shared by every fscti process of that host), and `GET /metrics`
(app/metrics/views.py) or `flask metrics serve` sums them. prometheus_client picks its mode
when it is imported, so this module prepares the directory *before* importing it:
`app.metrics.process` (imported first below) creates the directory and removes the files of
processes that no longer run. Without `PROMETHEUS_MULTIPROC_DIR` every process keeps its own
values in memory (tests, `flask shell`) and /metrics shows the serving process only.

Cardinality is bounded: labels are a node name (the configured FreeSWITCH nodes), or a value
from a fixed list (outcome, reason, kind, state, queue). Never an extension, domain or uuid.
"""
from app.metrics import process  # noqa: F401  (must run before prometheus_client is imported)

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics  # noqa: E402

# No `*_created` series: multiprocess mode has none, so one process would differ from many.
disable_created_metrics()

# --- directory (web) -----------------------------------------------------------------------
LOOKUP_OUTCOMES = ("user", "domain", "unknown", "disabled", "not-found", "sql-fallback",
                   "refused", "error")
directory_lookups = Counter(
    "fscti_directory_lookups", "POST /directory requests by outcome", ["outcome"])
directory_seconds = Histogram(
    "fscti_directory_lookup_seconds", "Time to answer one /directory request (in the app)",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
directory_cache = Counter(
    "fscti_directory_answer_cache", "Answer-cache lookups of /directory by result", ["result"])
directory_breaker_open = Gauge(
    "fscti_directory_redis_breaker_open",
    "Web processes whose Redis circuit breaker is open (answering from SQL)",
    multiprocess_mode="livesum")
directory_breaker_trips = Counter(
    "fscti_directory_redis_breaker_trips", "Times the directory's Redis circuit breaker opened")

# --- events: listener ----------------------------------------------------------------------
events_received = Counter("fscti_events_received", "Events read from a node's event socket",
                          ["node"])
events_enqueued = Counter("fscti_events_enqueued", "Events handed to the broker (ingest tasks)",
                          ["node"])
events_dropped = Counter("fscti_events_dropped",
                         "Events dropped because the listener's buffer was full", ["node"])
events_malformed = Counter("fscti_events_malformed",
                           "Events skipped as malformed (listener: unframeable; worker: invalid)",
                           ["node", "stage"])
esl_connected = Gauge("fscti_esl_connected",
                      "1 while the listener's event connection to the node is up",
                      ["node"], multiprocess_mode="livemax")
esl_reconnects = Counter("fscti_esl_reconnects", "Event connections re-established to a node",
                         ["node"])

# --- events: worker ------------------------------------------------------------------------
events_batch_size = Histogram(
    "fscti_events_batch_size", "Events per ingest batch applied by a worker",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000))
events_apply_seconds = Histogram(
    "fscti_events_apply_seconds", "Time to apply one ingest batch to the state in Redis",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0))
state_lag_seconds = Histogram(
    "fscti_state_lag_seconds",
    "Oldest event of a batch: listener receive time to applied in Redis",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0))
events_stale = Counter(
    "fscti_events_stale", "Events refused by the state script: sent under a lease token that "
    "is no longer the node's fence (a listener that lost the node)", ["node"])
RESYNC_REASONS = ("connect", "core-uuid-changed", "overflow", "periodic", "stale-calls",
                  "redis-lost", "redis-restarted", "takeover", "other")
resyncs = Counter("fscti_resyncs", "Node resyncs run by a worker, by reason and result",
                  ["node", "reason", "result"])
sweeps = Counter("fscti_state_sweeps", "Binding-expiry sweeps of a node", ["node"])

# --- actions, mirror, broker ---------------------------------------------------------------
actions = Counter("fscti_actions", "Supervisor actions that ended, by kind and final state",
                  ["kind", "state"])
action_wire_seconds = Histogram(
    "fscti_action_wire_seconds", "API request accepted to the command written to FreeSWITCH",
    ["kind"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
mirror_drift = Counter("fscti_mirror_drift", "Mirror drift found by reconcile, by kind", ["kind"])
mirror_repaired = Counter("fscti_mirror_repaired", "Mirror entries repaired by reconcile")

# Children created up front: a series exists (at 0) before its first event.
for _outcome in LOOKUP_OUTCOMES:
    directory_lookups.labels(_outcome)
for _result in ("hit", "miss"):
    directory_cache.labels(_result)


def resync_reason(reason) -> str:
    """A resync reason as a label: one of RESYNC_REASONS."""
    return reason if reason in RESYNC_REASONS else "other"


def node_label(settings, name) -> str:
    """A node name as a label: a configured node's name, else "other" (bounded)."""
    return name if isinstance(name, str) and settings.node(name) is not None else "other"
