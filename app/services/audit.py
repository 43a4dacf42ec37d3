"""The audit trail: who did what to which call, on which node, and what FreeSWITCH answered.

One row per supervisor action (written when it is requested; its `result` is filled in when
the action ends) and one per /cli gateway command (refused ones included). Rows are never
deleted by fscti.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry
from app.services.sql import like_pattern, paginate

RESULT_MAX = 2000
TEXT_MAX = 500


def clip(value, limit: int = TEXT_MAX):
    """A string cut to `limit` characters, NUL shown as `\\x00` (PostgreSQL text refuses NUL);
    other values unchanged. For storing what a caller sent."""
    if not isinstance(value, str):
        return value
    value = value.replace("\x00", "\\x00")
    return value[: limit - 3] + "..." if len(value) > limit else value


def record(actor: str, what: str, target: str | None = None, node: str | None = None,
           detail: dict | None = None, result: str | None = None, commit: bool = True) -> AuditEntry:
    """Add one audit row (and commit it unless the caller commits with its own change)."""
    entry = AuditEntry(actor=clip(actor or "unknown", 128), what=clip(what, 64),
                       target=clip(target, 255), node=clip(node, 128),
                       detail={k: clip(v) for k, v in (detail or {}).items()},
                       result=clip(result, RESULT_MAX))
    db.session.add(entry)
    if commit:
        db.session.commit()
    return entry


def set_result(entry_id: int | None, result: str) -> None:
    """Fill in the result of an action's row (in the caller's transaction)."""
    if entry_id is None:
        return
    entry = db.session.get(AuditEntry, entry_id)
    if entry is not None:
        entry.result = clip(result, RESULT_MAX)


def list_entries(page: int, per_page: int, actor: str | None = None, what: str | None = None,
                 target: str | None = None, node: str | None = None, result: str | None = None,
                 since: datetime | None = None, until: datetime | None = None):
    """A page of audit rows, newest first; `what`/`result` match a prefix, `actor`/`target`
    a substring, `node` exactly."""
    stmt = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if actor:
        stmt = stmt.where(AuditEntry.actor.like(like_pattern(actor), escape="\\"))
    if what:
        stmt = stmt.where(AuditEntry.what.like(_prefix(what), escape="\\"))
    if target:
        stmt = stmt.where(AuditEntry.target.like(like_pattern(target), escape="\\"))
    if node:
        stmt = stmt.where(AuditEntry.node == node)
    if result:
        stmt = stmt.where(AuditEntry.result.like(_prefix(result), escape="\\"))
    # In UTC: SQLite compares the stored text and would ignore another offset.
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= _utc(since))
    if until is not None:
        stmt = stmt.where(AuditEntry.at < _utc(until))
    return paginate(stmt, page, per_page)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _prefix(text: str) -> str:
    return like_pattern(text)[1:]
