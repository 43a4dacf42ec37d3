"""The audit trail as GET /api/v1/audit shows it."""
from datetime import timezone

from marshmallow import Schema, fields, validate

from app.schemas.common import MAX_PER_PAGE, page_of, query_text


class AuditOut(Schema):
    """One audited action or /cli gateway command."""

    id = fields.Integer()
    at = fields.DateTime(metadata={"description": "when it was requested (UTC)"})
    actor = fields.String(metadata={"description": "token:<name>, bootstrap-admin or cli:<key id>"})
    what = fields.String(metadata={"description": "supervise, mode, hangup, or cli:<cmd>"})
    target = fields.String(allow_none=True, metadata={"description": "call uuid or ext@domain"})
    node = fields.String(allow_none=True)
    detail = fields.Dict()
    result = fields.String(allow_none=True, metadata={
        "description": "queued / succeeded: <reply> / failed: <why> / rejected: <why>"})


AuditPage = page_of(AuditOut, "AuditPage")


class AuditQuery(Schema):
    """Paging and filters of GET /audit (all optional, combined with AND)."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**7))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    actor = query_text(128, metadata={"description": "substring of the actor"})
    what = query_text(64, metadata={"description": "prefix: supervise, mode, hangup, cli"})
    target = query_text(255, metadata={"description": "substring of the target"})
    node = query_text(128)
    result = query_text(64, metadata={"description": "prefix: queued, succeeded, failed, rejected"})
    since = fields.AwareDateTime(load_default=None, default_timezone=timezone.utc, metadata={
        "description": "ISO 8601 (UTC unless it says otherwise), inclusive"})
    until = fields.AwareDateTime(load_default=None, default_timezone=timezone.utc, metadata={
        "description": "ISO 8601, exclusive"})
