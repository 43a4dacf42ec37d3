"""An extension template: defaults shared by all domains."""
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import Timestamps, json_column


class Template(Timestamps, db.Model):
    __tablename__ = "template"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    param: Mapped[dict] = json_column()
    variable: Mapped[dict] = json_column()
    attribute: Mapped[dict] = json_column()

    def __repr__(self):
        return f"<Template {self.name}>"
