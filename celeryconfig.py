"""Celery settings. Broker and result backend come from CELERY_BROKER_URL / REDIS_URL (app.config).

The beat schedule is data here, in one place.
"""
from datetime import timedelta

from app import tasknames

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
    tasknames.DIRECTORY_REBUILD: {"queue": "celery"},
    tasknames.DIRECTORY_RECONCILE: {"queue": "celery"},
    tasknames.DIRECTORY_REPAIR_EXTENSIONS: {"queue": "celery"},
    tasknames.DIRECTORY_MIRROR_TEMPLATE: {"queue": "celery"},
    tasknames.DIRECTORY_REMIRROR_DOMAIN: {"queue": "celery"},
    tasknames.DIRECTORY_FLUSH_CACHE: {"queue": "celery"},
    tasknames.DIRECTORY_FLUSH_CACHE_NODE: {"queue": "celery"},
    tasknames.INGEST_EVENTS: {"queue": "events"},
    tasknames.INGEST_BATCHES: {"queue": "events"},
    tasknames.STATE_RESYNC: {"queue": "events"},
    tasknames.STATE_TICK: {"queue": "celery"},
    tasknames.REDIS_HEAL: {"queue": "celery"},
    tasknames.ACTIONS_SUPERVISE: {"queue": "actions"},
    tasknames.ACTIONS_MODE: {"queue": "actions"},
    tasknames.ACTIONS_HANGUP: {"queue": "actions"},
    tasknames.ACTIONS_SETTLE: {"queue": "actions"},
}

beat_schedule = {
    # SQL vs Redis drift of the directory mirror (lost writes, flushed Redis, strays).
    "directory-reconcile": {"task": tasknames.DIRECTORY_RECONCILE, "schedule": timedelta(minutes=5),
                            "options": {"expires": 240}},
    # The tick also checks Redis's generation marker first (data lost: heal it, docs/redis-loss.md).
    # Live state upkeep: binding expiry sweep, stale calls, periodic resync; each step runs
    # when due by the `state` settings (sweep_interval, resync_interval), checked every tick.
    "state-tick": {"task": tasknames.STATE_TICK, "schedule": timedelta(seconds=5),
                   "options": {"expires": 4}},
}
