"""How the API shows things: the fields and envelopes its response schemas dump with.

Every JSON body the API answers is produced by the marshmallow schema that documents it in
/openapi.json (the views hand objects to `@blp.response`), so the document and the answers
cannot drift apart. Secrets are masked here, by `redact()`, unless the request asked for them
(`show_secrets`, called by the views after the admin check).
"""
from datetime import timezone

from flask import has_request_context, request
from marshmallow import Schema, fields

from app.schemas.secrets import redact
from app.schemas.section_rules import MASK

_SECRETS = "fscti.show_secrets"  # a WSGI environ key: per request, never shared


def show_secrets() -> None:
    """Let this request's response show secrets (call only after checking the role)."""
    request.environ[_SECRETS] = True


def secrets_shown() -> bool:
    return has_request_context() and request.environ.get(_SECRETS, False)


class Moment(fields.DateTime):
    """An ISO 8601 moment with its UTC offset (SQLite hands back naive datetimes; they are UTC)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return super()._serialize(value, attr, obj, **kwargs)


class Entries(fields.Dict):
    """A stored param/variable/attribute section as shown: an object, {} when empty."""

    def __init__(self, **kwargs):
        super().__init__(keys=fields.String(), values=fields.Raw(allow_none=True), **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return dict(value or {})


class Masked(Entries):
    """A section whose secrets (password, a1-hash, ...) read as the mask unless asked for."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault("description", (
            f"name → value; passwords and a1-hashes read as '{MASK}' unless an admin asks for "
            f"?include_secrets=true"))
        super().__init__(**kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return dict(value or {}) if secrets_shown() else redact(value)


class MirrorOut(Schema):
    """A re-mirror handed to a task (app.services.mirror_flush.MirrorQueued)."""

    status = fields.Constant("queued")
    task = fields.String(metadata={"description": "the Celery task name"})
    task_id = fields.String()
    extensions = fields.Integer(metadata={"description": "how many extensions it re-mirrors"})


class WithMirror:
    """An object shown with the re-mirror its write queued: the 202 body adds `mirror`."""

    def __init__(self, obj, queued):
        self._obj, self.mirror = obj, queued

    def __getattr__(self, name):
        return getattr(self._obj, name)


def mirror_field():
    return fields.Nested(MirrorOut, metadata={
        "description": "only in a 202: the many dependent extensions are re-mirrored (then "
                       "flushed) by this task"})


class PageLinks(Schema):
    self = fields.String()
    first = fields.String()
    last = fields.String()
    prev = fields.String(allow_none=True)
    next = fields.String(allow_none=True)


def page_of(item_schema: type[Schema], name: str) -> type[Schema]:
    """The envelope of a page of items: {items, total, page, per_page, pages, links}."""
    return Schema.from_dict({
        "items": fields.List(fields.Nested(item_schema)),
        "total": fields.Integer(metadata={"description": "items matching, over all pages"}),
        "page": fields.Integer(),
        "per_page": fields.Integer(),
        "pages": fields.Integer(),
        "links": fields.Nested(PageLinks),
    }, name=name)


class ErrorSchema(Schema):
    """Every error the API answers (app.errors.error_response); component `Error`."""

    error = fields.String(required=True, metadata={"description": (
        "machine-readable code: bad_request, unauthorized, forbidden, not_found, conflict, "
        "validation_failed, unsupported_media_type, request_entity_too_large, unavailable, "
        "internal_error, ...")})
    message = fields.String(required=True, metadata={"description": "what went wrong, for people"})
    details = fields.Dict(required=True, metadata={"description": (
        "field → list of messages (nested for param/variable/attribute names and import rows); "
        "{} when there is nothing more to say")})
