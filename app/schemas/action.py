"""Supervisor actions as the API takes and shows them (app/services/action.py)."""
from flask import url_for
from marshmallow import Schema, ValidationError, fields, validate

from app.esl.supervisor_commands import HANGUP_CAUSES
from app.names import is_domain, is_extension
from app.schemas import patterns
from app.schemas.fields import StrictBoolean, query_text, whitelisted
from app.schemas.out import Moment
from app.supervision import MODES

MODE_HELP = "; ".join(f"`{m.name}`: {m.description}" for m in MODES.values())


def _cause(value: str) -> None:
    if not value.isascii() or value.upper() not in HANGUP_CAUSES:
        raise ValidationError("not a FreeSWITCH hangup cause (e.g. NORMAL_CLEARING, "
                              "MANAGER_REQUEST, CALL_REJECTED)")


def _cause_field():
    return fields.String(load_default=None, validate=_cause, metadata={
        "description": "FreeSWITCH hangup cause name, any letter case (default: FreeSWITCH's "
                       "NORMAL_CLEARING)",
        "enum": [*sorted(HANGUP_CAUSES), None]})


def _extension(**kw):
    return whitelisted(is_extension, patterns.EXTENSION, "not a valid extension name", **kw)


def _domain(**kw):
    return whitelisted(is_domain, patterns.DOMAIN, "not a valid domain name", **kw)


def _mode(**kw):
    return fields.String(validate=validate.OneOf(list(MODES)), metadata={
        "description": "who hears the supervisor: " + MODE_HELP}, **kw)


def _node():
    return fields.String(load_default=None, validate=validate.Length(min=1, max=128), metadata={
        "description": "FreeSWITCH node holding the call (default: from the live state)"})


class SuperviseIn(Schema):
    """POST /calls/<uuid>/supervise: ring the supervisor into a mode on the call."""

    supervisor = _extension(required=True, metadata={"description": "the supervisor's extension"})
    mode = _mode(load_default="listen")
    domain = _domain(load_default=None, metadata={
        "description": "the supervisor's domain (default: the call's)"})
    dtmf = StrictBoolean(load_default=True, metadata={
        "description": "let the supervisor switch modes with keys 1/2/3/0 (eavesdrop modes only)"})
    node = _node()


class SuperviseExtensionIn(Schema):
    """POST /domains/<d>/extensions/<ext>/supervise: the same, on the extension's live call."""

    supervisor = _extension(required=True, metadata={"description": "the supervisor's extension"})
    mode = _mode(load_default="listen")
    domain = _domain(load_default=None, metadata={
        "description": "the supervisor's domain (default: the extension's)"})
    dtmf = StrictBoolean(load_default=True)


class ModeIn(Schema):
    """POST /supervisions/<id>/mode: switch a running supervision."""

    mode = _mode(required=True)


class HangupIn(Schema):
    """POST /calls/<uuid>/hangup and /domains/<d>/extensions/<ext>/hangup."""

    cause = _cause_field()
    node = _node()


class HangupExtensionIn(Schema):
    cause = _cause_field()


def action_href(action) -> str:
    return url_for("actions.get_action", action_id=action.id)


class ActionAccepted(Schema):
    """202: the action is queued; follow it at `href` (also the Location header)."""

    id = fields.String()
    kind = fields.String(metadata={"description": "supervise, mode or hangup"})
    state = fields.String()
    node = fields.String(allow_none=True, metadata={
        "description": "the node it goes to (null: looked for on every node)"})
    href = fields.Function(action_href, metadata={"description": "GET it to follow the action"})


class ActionOut(Schema):
    """An action: its state and what FreeSWITCH answered."""

    id = fields.String()
    kind = fields.String(metadata={"description": "supervise, mode or hangup"})
    state = fields.String(metadata={"description": (
        "queued, retrying (node unreachable, will retry), sending, sent (originate accepted, "
        "the supervisor's phone is ringing), running, succeeded, failed")})
    actor = fields.String()
    node = fields.String(allow_none=True)
    target_uuid = fields.String(allow_none=True)
    job_uuid = fields.String(allow_none=True, metadata={"description": "bgapi Job-UUID"})
    leg_uuid = fields.String(allow_none=True, metadata={
        "description": "the supervisor's leg (origination_uuid)"})
    reply = fields.String(allow_none=True, metadata={
        "description": "FreeSWITCH's reply: `+OK <leg uuid>` / `-ERR <CAUSE>` from the "
                       "BACKGROUND_JOB event, the uuid_kill replies, the sendevent reply"})
    error = fields.String(allow_none=True, metadata={"description": "why it failed"})
    commands = fields.List(fields.String(), metadata={
        "description": "the command lines sent to FreeSWITCH's event socket"})
    params = fields.Dict()
    live = fields.Boolean(allow_none=True, metadata={
        "description": "supervise: whether the supervisor's leg is still up (live state)"})
    created_at = Moment()
    updated_at = Moment()


class TimeQuery(Schema):
    node = query_text(128, min_length=1)


class TimeOut(Schema):
    """FreeSWITCH's clock (`strmicroepoch`)."""

    node = fields.String()
    timestamp = fields.String(metadata={"description": "µs since the epoch, as FreeSWITCH says it"})
    microseconds = fields.Integer()
