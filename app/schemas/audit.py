"""The audit trail as GET /api/v1/audit shows it."""
from datetime import timezone

from marshmallow import Schema, ValidationError, fields, validate

from app.schemas.fields import MAX_PER_PAGE, query_text
from app.schemas.out import Moment, page_of


class AuditOut(Schema):
    """One audited action or /cli gateway command."""

    id = fields.Integer()
    at = Moment(metadata={"description": "when it was requested (UTC)"})
    actor = fields.String(metadata={"description": "token:<name>, bootstrap-admin or cli:<key id>"})
    what = fields.String(metadata={"description": "supervise, mode, hangup, or cli:<cmd>"})
    target = fields.String(allow_none=True, metadata={"description": "call uuid or ext@domain"})
    node = fields.String(allow_none=True)
    detail = fields.Dict()
    result = fields.String(allow_none=True, metadata={
        "description": "queued / succeeded: <reply> / failed: <why> / rejected: <why>"})


AuditPage = page_of(AuditOut, "AuditPage")


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 moment (UTC unless it says otherwise), loaded as UTC.

    Converted here rather than in the service: a moment at the edge of the calendar with an
    offset (9999-12-31T23:59:59-14:00) has no UTC datetime, which must be a 422, not a 500.
    """

    def __init__(self, **kwargs):
        super().__init__(load_default=None, default_timezone=timezone.utc, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(timezone.utc)
        except OverflowError:
            raise ValidationError("out of range once converted to UTC") from None


class AuditQuery(Schema):
    """Paging and filters of GET /audit (all optional, combined with AND)."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**7))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    actor = query_text(128, metadata={"description": "substring of the actor"})
    what = query_text(64, metadata={"description": "prefix: supervise, mode, hangup, cli"})
    target = query_text(255, metadata={"description": "substring of the target"})
    node = query_text(128)
    result = query_text(64, metadata={"description": "prefix: queued, succeeded, failed, rejected"})
    since = UtcDateTime(metadata={"description": "ISO 8601 (UTC unless it says otherwise), "
                                                 "inclusive"})
    until = UtcDateTime(metadata={"description": "ISO 8601, exclusive"})
