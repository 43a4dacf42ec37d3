"""Live calls as the API shows them (app/state/calls.py `call_view` + durations)."""
from marshmallow import Schema, fields, validate

from app.names import is_domain, is_extension
from app.schemas import patterns
from app.schemas.fields import query_text, whitelisted

US = "µs since the epoch on FreeSWITCH's clock, as a string; \"0\" = not yet"


class CallOut(Schema):
    """One leg of a call, as the extension that owns it sees it."""

    uuid = fields.String(metadata={"description": "the leg's Unique-ID"})
    node = fields.String(metadata={"description": "FreeSWITCH node holding the leg"})
    core_uuid = fields.String(allow_none=True)
    domain = fields.String()
    extension = fields.String()
    direction = fields.String(metadata={"description": "Call-Direction of the leg: inbound "
                                        "(the extension called out) or outbound (it was called)"})
    state = fields.String(metadata={"description": "callout, callin, progress, answer, bridge, "
                                    "unbridge or hangup (gui.call `notify`)"})
    answer_state = fields.String()
    hungup = fields.Boolean()
    caller_id_number = fields.String()
    destination_number = fields.String()
    callee_id_number = fields.String()
    signal_bond = fields.String(metadata={"description": "the other leg's uuid"})
    other_uuid = fields.String()
    channel_name = fields.String()
    hangup_cause = fields.String()
    created_time = fields.String(metadata={"description": US})
    progress_time = fields.String(metadata={"description": US})
    answered_time = fields.String(metadata={"description": US})
    hangup_time = fields.String(metadata={"description": US})
    last_event_time = fields.String(metadata={"description": US})
    duration_ms = fields.Integer(allow_none=True, metadata={
        "description": "now - created, on the node's clock (FreeSWITCH's strmicroepoch)"})
    talk_ms = fields.Integer(allow_none=True, metadata={"description": "now - answered"})


class CallList(Schema):
    """Live calls, oldest first."""

    total = fields.Integer()
    items = fields.List(fields.Nested(CallOut))


class CallQuery(Schema):
    """?domain=&extension=&node=&limit= of GET /calls."""

    domain = whitelisted(is_domain, patterns.DOMAIN, "not a valid domain name",
                         load_default=None)
    extension = whitelisted(is_extension, patterns.EXTENSION, "not a valid extension name",
                            load_default=None)
    node = query_text(128, min_length=1)
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=10000))
