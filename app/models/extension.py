"""A SIP extension (directory user) of one domain."""
from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import Timestamps, json_column


class Extension(Timestamps, db.Model):
    __tablename__ = "extension"
    __table_args__ = (
        UniqueConstraint("domain_id", "name", name="uq_extension_domain_name"),
        Index("ix_extension_domain_alias", "domain_id", "number_alias"),
        Index("ix_extension_template", "template_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("template.id", ondelete="RESTRICT"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    param: Mapped[dict] = json_column()
    variable: Mapped[dict] = json_column()
    attribute: Mapped[dict] = json_column()
    # The effective number-alias (template or own), kept in a column for lookups by alias.
    number_alias: Mapped[str | None] = mapped_column(String(64))

    domain = relationship("Domain", back_populates="extensions")
    template = relationship("Template")

    def __repr__(self):
        return f"<Extension {self.name}@{self.domain_id}>"
