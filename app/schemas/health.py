"""What /readyz and GET /api/v1/health answer (app/services/health.py gathers it)."""
from marshmallow import Schema, fields

CHECK = "ok, or error: <exception class>"


class ChecksOut(Schema):
    sql = fields.String(metadata={"description": CHECK})
    redis = fields.String(metadata={"description": CHECK})
    broker = fields.String(metadata={"description": CHECK + " (Celery's broker)"})
    listener = fields.String(metadata={
        "description": "ok: every configured node has a fresh listener heartbeat; "
                       "stale/absent: some node has none (no listener is running for it)"})


class NodeHealthOut(Schema):
    """One configured FreeSWITCH node, as the listener and the last resync saw it."""

    node = fields.String()
    esl = fields.String(metadata={"enum": ["up", "down", "unknown"], "description": (
        "the listener's event connection; unknown when no listener heartbeat is fresh")})
    listener = fields.String(metadata={"enum": ["ok", "stale", "absent"], "description": (
        "the listener's heartbeat for this node: its status key, written every "
        "listener.status_interval seconds; stale after 3 intervals")})
    listener_heartbeat_age_s = fields.Float(allow_none=True)
    last_event_age_s = fields.Float(allow_none=True, metadata={
        "description": "seconds since the listener read the node's last event (as of its last "
                       "heartbeat)"})
    last_resync_age_s = fields.Float(allow_none=True)
    last_resync_reason = fields.String(allow_none=True)
    reconnects = fields.Integer()
    last_error = fields.String(metadata={"description": "why the connection failed last, or ''"})
    owner = fields.String(allow_none=True, metadata={"description": (
        "the listener holding the node's lease (host:pid:random), the only one reading it; "
        "null when none holds it (no listener alive, or between owners)")})
    lease_token = fields.Integer(allow_none=True, metadata={"description": (
        "the lease's fencing token: every ingest batch of the node carries it, and the state "
        "applies only batches whose token is the newest")})


class QueueOut(Schema):
    events = fields.Integer()
    actions = fields.Integer()
    celery = fields.Integer()


class ReadyOut(Schema):
    status = fields.String(metadata={"enum": ["ok", "degraded", "unavailable"], "description": (
        "unavailable (503): SQL or Redis does not answer; degraded (200): this web serves, but "
        "the broker, a listener or a node is not well (see checks and nodes)")})
    checks = fields.Nested(ChecksOut)
    nodes = fields.List(fields.Nested(NodeHealthOut))


class HealthDetailOut(ReadyOut):
    """/readyz plus the broker's queue depths and this web process's view."""

    queues = fields.Nested(QueueOut, metadata={"description": "messages waiting per Celery queue"})
    pid = fields.Integer(metadata={"description": "the web process that answered"})
    time = fields.Float(metadata={"description": "its clock, seconds since the epoch"})
