"""Column helpers shared by the models."""
from datetime import datetime, timezone

from sqlalchemy import JSON, DateTime
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow, nullable=False)


def json_column(**kw):
    return mapped_column(JSON, default=dict, nullable=False, **kw)
