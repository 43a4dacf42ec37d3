"""Audit trail: every supervisor action and every /cli gateway command."""
from datetime import datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import json_column, utcnow


class AuditEntry(db.Model):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False, index=True)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    what: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str | None] = mapped_column(String(255))
    node: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict] = json_column()
    result: Mapped[str | None] = mapped_column(Text)
