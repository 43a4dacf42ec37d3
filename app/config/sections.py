"""The `state`, `listener` and `actions` sections and `esl_timeout`: defaults and checks."""
from __future__ import annotations

import math

from app.config.file import ConfigError, number, section

# `state` section: live registration/call state (app/state/, docs/state.md).
DEFAULT_STATE = {
    "sip_expires_late_margin": 60,     # s; FreeSWITCH's sip-expires-late-margin (facts §4.3)
    "multiple_registrations": False,   # the profiles' multiple-registrations (FreeSWITCH default off)
    "tombstone_ttl": 3600,             # s a hung-up channel / dead binding is remembered
    "call_stale_after": 7200,          # s without any event before a live call is checked
    "resync_interval": 300,            # s between periodic resyncs of every node
    "resync_lag_margin": 5,            # s; calls with events this recent survive a snapshot
    "sweep_interval": 15,              # s between expiry sweeps
    "job_result_ttl": 3600,            # s a BACKGROUND_JOB result is kept
    "channel_variables": [],           # extra channel headers kept on each call record
}


def state_section(state: dict | None) -> dict:
    """The `state` section with defaults; numbers must be positive."""
    out = dict(DEFAULT_STATE)
    out["channel_variables"] = list(DEFAULT_STATE["channel_variables"])
    for key, value in section(state, "state").items():
        if key not in DEFAULT_STATE:
            raise ConfigError(f"state.{key}: unknown setting")
        default = DEFAULT_STATE[key]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"state.{key}: must be true or false")
        elif isinstance(default, int):
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not math.isfinite(value) or value < 0):
                raise ConfigError(f"state.{key}: must be a non-negative number")
        elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"state.{key}: must be a list of header names")
        out[key] = value
    return out


# `listener` section: the event-socket listener process (workers/listener.py, docs/listener.md).
# Each key can also be set by env FSCTI_LISTENER_<KEY>, e.g. FSCTI_LISTENER_BATCH_DELAY_MS=2.
DEFAULT_LISTENER = {
    "buffer_max": 100000,      # events kept in memory while the broker is unavailable
    "batch_size": 500,         # events per node batch (of an ingest task), at most
    "batch_delay_ms": 5.0,     # how long a batch's first event waits for more
    "batch_max_delay_ms": 25.0,  # ... when events come fast enough to fill the batch by then
    "backoff_initial": 0.5,    # s before the first reconnect to a node
    "backoff_max": 30.0,       # s, cap of the exponential reconnect backoff
    "idle_timeout": 60.0,      # s without a byte from a node (HEARTBEAT is every 20 s) → reconnect
    "status_interval": 30.0,   # s between status log lines and Redis status writes
    "broker_retry_max": 5.0,   # s, cap of the backoff while the broker refuses messages
    "decoder": "frames",       # "frames" (own JSON frame reader) or "esl" (python-ESL recvEvent)
    "redis_check_interval": 1.0,  # s between checks that Redis still holds its data (generation)
    "batch_min_interval_ms": 25.0,  # a node's batches at most this often (0: no limit); all
                                    # the listener's nodes with events go in one task
    "lease_ttl": 3.0,          # s a node's lease lives unrenewed: a dead listener's nodes are free after it
    "lease_interval": 1.0,     # s between lease renewals (and takeover attempts); < lease_ttl / 2
}
_LISTENER_DECODERS = ("frames", "esl")
_LISTENER_ZERO_OK = ("batch_min_interval_ms",)


def listener_section(listener: dict | None, env) -> dict:
    """The `listener` section with defaults and FSCTI_LISTENER_* overrides; numbers must be > 0."""
    out = dict(DEFAULT_LISTENER)
    given = section(listener, "listener")
    for key in DEFAULT_LISTENER:
        if env.get(f"FSCTI_LISTENER_{key.upper()}"):
            given[key] = env[f"FSCTI_LISTENER_{key.upper()}"]
    for key, value in given.items():
        if key not in DEFAULT_LISTENER:
            raise ConfigError(f"listener.{key}: unknown setting")
        default = DEFAULT_LISTENER[key]
        if isinstance(default, str):
            if value not in _LISTENER_DECODERS:
                raise ConfigError(f"listener.{key}: must be one of {', '.join(_LISTENER_DECODERS)}")
            out[key] = value
            continue
        try:
            number_ = type(default)(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"listener.{key}: not a number") from None
        zero_ok = key in _LISTENER_ZERO_OK
        if isinstance(value, bool) or not math.isfinite(number_) or number_ < 0 or (
                number_ == 0 and not zero_ok):
            raise ConfigError(f"listener.{key}: must be a positive number"
                              + (" or 0" if zero_ok else ""))
        out[key] = number_
    if out["lease_interval"] * 2 > out["lease_ttl"]:
        raise ConfigError(f"listener.lease_interval: must be at most half of listener.lease_ttl "
                          f"({out['lease_ttl']:g} s), so one late renewal does not lose the lease")
    return out


# `actions` section: supervisor actions (workers/tasks/actions.py, docs/supervisor.md).
DEFAULT_ACTIONS = {
    "originate_timeout": 30,      # s the supervisor's phone rings before FreeSWITCH gives up
    "result_grace": 30,           # s past that to wait for the BACKGROUND_JOB result
    "max_retries": 5,             # retries while the node is unreachable; then the action fails
    "retry_backoff": 1.0,         # s before the first retry, doubled each time (full jitter)
    "retry_backoff_max": 8.0,     # s, cap of one retry delay
    # s an action may stay `queued` (no worker took it) before it fails as lost (e.g. its
    # task went with a Redis broker's failover); nothing was sent to FreeSWITCH. 0 = never.
    "queue_timeout": 60,
}


def actions_section(actions: dict | None) -> dict:
    """The `actions` section with defaults; every value a number in its range."""
    out = dict(DEFAULT_ACTIONS)
    for key, value in section(actions, "actions").items():
        if key not in DEFAULT_ACTIONS:
            raise ConfigError(f"actions.{key}: unknown setting")
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value)):
            raise ConfigError(f"actions.{key}: must be a number")
        if key in ("originate_timeout", "max_retries", "queue_timeout") and value != int(value):
            raise ConfigError(f"actions.{key}: must be a whole number")
        low, high = (1, 600) if key == "originate_timeout" else (0, 3600)
        if not low <= value <= high or (key.startswith("retry_backoff") and value <= 0):
            raise ConfigError(f"actions.{key}: out of range")
        out[key] = int(value) if isinstance(DEFAULT_ACTIONS[key], int) else float(value)
    return out


ESL_TIMEOUT_MAX = 600.0


UNREACHABLE_LOG_INTERVAL = 300.0
UNREACHABLE_LOG_INTERVAL_MAX = 86400.0


def unreachable_log_interval(data: dict, env) -> float:
    """`unreachable_log_interval` (env FSCTI_UNREACHABLE_LOG_INTERVAL): seconds between the
    WARNINGs about a FreeSWITCH node that stays unreachable (app/quiet.py), > 0."""
    raw = env.get("FSCTI_UNREACHABLE_LOG_INTERVAL")
    if raw is None or raw == "":
        raw = data.get("unreachable_log_interval")
    if raw is None:
        return UNREACHABLE_LOG_INTERVAL
    return float(number(raw, "unreachable_log_interval", 0, UNREACHABLE_LOG_INTERVAL_MAX))


def esl_timeout(data: dict, env) -> float:
    """`esl_timeout` (env FSCTI_ESL_TIMEOUT): seconds, > 0 (0 would mean "no reply can arrive")."""
    raw = env.get("FSCTI_ESL_TIMEOUT")
    if raw is None or raw == "":
        raw = data.get("esl_timeout")
    if raw is None:
        return 5.0
    return float(number(raw, "esl_timeout", 0, ESL_TIMEOUT_MAX))
