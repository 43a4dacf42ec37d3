"""Every Celery task name fscti sends or registers is named here, and nowhere else.

Task names are a contract between processes (web, listener, workers, beat) and with the
messages already queued in the broker: a renamed task strands them. Tests and Flower show
them as they are spelled here.
"""

# The directory mirror (queue `celery`).
DIRECTORY_REBUILD = "fscti.directory.rebuild"
DIRECTORY_RECONCILE = "fscti.directory.reconcile"
DIRECTORY_REPAIR_EXTENSIONS = "fscti.directory.repair_extensions"
DIRECTORY_MIRROR_TEMPLATE = "fscti.directory.mirror_template"
DIRECTORY_REMIRROR_DOMAIN = "fscti.directory.remirror_domain"
# FreeSWITCH's directory cache: one task per change, one per node (queue `celery`).
DIRECTORY_FLUSH_CACHE = "fscti.directory.flush_cache"
DIRECTORY_FLUSH_CACHE_NODE = "fscti.directory.flush_cache_node"

# The live state (ingest and resync on `events`, the beat tick on `celery`).
INGEST_EVENTS = "fscti.ingest.events"      # one node's batch
INGEST_BATCHES = "fscti.ingest.batches"    # several nodes' batches from one listener, one task
STATE_RESYNC = "fscti.state.resync"
STATE_TICK = "fscti.state.tick"
REDIS_HEAL = "fscti.redis.heal"

# Supervisor actions (queue `actions`).
ACTIONS_SUPERVISE = "fscti.actions.supervise"
ACTIONS_MODE = "fscti.actions.mode"
ACTIONS_HANGUP = "fscti.actions.hangup"
ACTIONS_SETTLE = "fscti.actions.settle"

ALL = frozenset(v for k, v in dict(globals()).items() if k.isupper() and isinstance(v, str))
