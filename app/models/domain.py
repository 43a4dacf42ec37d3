"""A SIP domain: its params and variables are merged by FreeSWITCH into every user."""
from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import Timestamps, json_column

# The vanilla dial-string (conf/vanilla/directory/default.xml): without it `user/<ext>` fails.
DEFAULT_DIAL_STRING = (
    "{^^:sip_invite_domain=${dialed_domain}:presence_id=${dialed_user}@${dialed_domain}}"
    "${sofia_contact(*/${dialed_user}@${dialed_domain})}"
)


class Domain(Timestamps, db.Model):
    __tablename__ = "domain"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True, nullable=False)
    # The digest realm used to compute a1-hash; defaults to the domain name.
    realm: Mapped[str] = mapped_column(String(253), nullable=False)
    param: Mapped[dict] = json_column()
    variable: Mapped[dict] = json_column()
    # When true, only `a1-hash` is stored: passwords are hashed on write and never kept.
    a1_hash_only: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    extensions = relationship("Extension", back_populates="domain", passive_deletes=True)

    def __repr__(self):
        return f"<Domain {self.name}>"
