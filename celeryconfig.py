"""Celery settings. Broker and result backend come from CELERY_BROKER_URL / REDIS_URL (app.config).

The beat schedule is data here, in one place.
"""
from datetime import timedelta

# Task modules, one per job.
include = [
    "workers.tasks.mirror",
    "workers.tasks.flush",
    "workers.tasks.ingest",
    "workers.tasks.state",
    "workers.tasks.actions",
    "workers.tasks.heal",
]

task_serializer = "json"
result_serializer = "json"
# + the listener's ingest batches: JSON + zlib (workers/ingest_codec.py), JSON data only
accept_content = ["json", "application/x-fscti-zjson"]
timezone = "UTC"
enable_utc = True
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 4
broker_connection_retry_on_startup = True
result_expires = timedelta(hours=24)
task_time_limit = 300
task_soft_time_limit = 240
worker_hijack_root_logger = False

# Queues: `events` (ingest, latency-sensitive), `actions` (supervisor), default `celery` (maintenance).
task_routes = {
    "fscti.directory.rebuild": {"queue": "celery"},
    "fscti.directory.reconcile": {"queue": "celery"},
    "fscti.directory.repair_extensions": {"queue": "celery"},
    "fscti.directory.mirror_template": {"queue": "celery"},
    "fscti.directory.remirror_domain": {"queue": "celery"},
    "fscti.directory.flush_cache": {"queue": "celery"},
    "fscti.directory.flush_cache_node": {"queue": "celery"},
    "fscti.ingest.events": {"queue": "events"},
    "fscti.state.resync": {"queue": "events"},
    "fscti.state.tick": {"queue": "celery"},
    "fscti.redis.heal": {"queue": "celery"},
    "fscti.actions.supervise": {"queue": "actions"},
    "fscti.actions.mode": {"queue": "actions"},
    "fscti.actions.hangup": {"queue": "actions"},
    "fscti.actions.settle": {"queue": "actions"},
}

beat_schedule = {
    # SQL vs Redis drift of the directory mirror (lost writes, flushed Redis, strays).
    "directory-reconcile": {"task": "fscti.directory.reconcile", "schedule": timedelta(minutes=5),
                            "options": {"expires": 240}},
    # The tick also checks Redis's generation marker first (data lost: heal it, docs/redis-loss.md).
    # Live state upkeep: binding expiry sweep, stale calls, periodic resync; each step runs
    # when due by the `state` settings (sweep_interval, resync_interval), checked every tick.
    "state-tick": {"task": "fscti.state.tick", "schedule": timedelta(seconds=5),
                   "options": {"expires": 4}},
}
