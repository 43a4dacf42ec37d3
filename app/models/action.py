"""A supervisor call action (listen/whisper/barge/hang-up) and its FreeSWITCH outcome."""
from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import Timestamps, json_column


class Action(Timestamps, db.Model):
    __tablename__ = "action"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # supervise, mode, hangup
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    actor: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    node: Mapped[str | None] = mapped_column(String(128))
    target_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    params: Mapped[dict] = json_column()
    job_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    # The supervisor leg's origination_uuid, for supervise actions.
    leg_uuid: Mapped[str | None] = mapped_column(String(36))
    reply: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
