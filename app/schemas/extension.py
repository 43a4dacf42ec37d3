"""Extension bodies: {"name", "template", "enabled", "param", "variable", "attribute"}."""
from marshmallow import Schema, ValidationError, fields, validate

from app import names
from app.schemas.common import PageQuery, Section, StrictBoolean, iso, page_of, redact
from app.schemas.rules import PREPROCESS_MSG, preprocessor_bait
from app.schemas.template import TemplateName

MAX_IMPORT_ROWS = 50_000


# Path words of the API under /extensions/ (GET .../extensions/export would shadow them).
RESERVED_NAMES = {"import", "export"}


class ExtensionName(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        if not names.is_extension(value):
            raise ValidationError("must be a SIP user part: a letter, digit or '+', then "
                                  "letters, digits, '_', '.', '+' or '-' (at most 64)")
        if preprocessor_bait(value):
            raise ValidationError(PREPROCESS_MSG)
        if value.lower() in RESERVED_NAMES:
            raise ValidationError(f"'{value}' is reserved by the API")
        return value


class ExtensionWrite(Schema):
    """PUT / PATCH body (the name comes from the URL; if given it must match).

    An own value of null removes what the template sets for that name.
    """

    name = ExtensionName(metadata={"description": "SIP user part (the directory user id)"})
    template = TemplateName(allow_none=True, metadata={
        "description": "template giving the defaults; null for none"})
    enabled = StrictBoolean(metadata={"description": "disabled extensions cannot register "
                                                     "or be called (default true)"})
    param = Section("extension", "param", metadata={
        "description": "params (password, a1-hash, auth-acl, ...); null hides the template's"})
    variable = Section("extension", "variable", metadata={
        "description": "variables; null hides the template's"})
    attribute = Section("extension", "attribute", metadata={
        "description": "<user> attributes: cacheable, number-alias; null hides the template's"})


class ExtensionCreate(ExtensionWrite):
    """POST body and import row."""

    name = ExtensionName(required=True, metadata={"description": "SIP user part"})


class ExtensionOut(Schema):
    name = fields.String()
    domain = fields.String()
    template = fields.String(allow_none=True)
    enabled = fields.Boolean()
    param = fields.Dict()
    variable = fields.Dict()
    attribute = fields.Dict()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class EffectiveOut(Schema):
    """Exactly the value mirrored into Redis `cti_exten@<domain>` (SPEC §1)."""

    param = fields.Dict()
    variable = fields.Dict()
    attribute = fields.Dict()


ExtensionPage = page_of(ExtensionOut, "ExtensionPage")


class ExtensionQuery(PageQuery):
    template = TemplateName(metadata={"description": "only extensions using this template"})
    enabled = StrictBoolean(metadata={"description": "only enabled (true) or disabled (false)"})


class ExportQuery(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))
    include_secrets = StrictBoolean(load_default=False, metadata={
        "description": "admin only: export passwords/a1-hashes (for backup) instead of the mask"})


class ImportQuery(Schema):
    mode = fields.String(load_default="create", validate=validate.OneOf(["create", "upsert"]),
                         metadata={"description": "create: every row must be new; upsert: rows "
                                                  "naming an existing extension replace it"})


class ImportResult(Schema):
    created = fields.Integer()
    replaced = fields.Integer()
    total = fields.Integer()


def extension_json(ext, domain_name: str, template_name: str | None,
                   secrets: bool = False) -> dict:
    """The API representation of an extension (secrets masked unless asked for)."""
    return {
        "name": ext.name,
        "domain": domain_name,
        "template": template_name,
        "enabled": ext.enabled,
        "param": dict(ext.param or {}) if secrets else redact(ext.param),
        "variable": dict(ext.variable or {}) if secrets else redact(ext.variable),
        "attribute": dict(ext.attribute or {}),
        "created_at": iso(ext.created_at),
        "updated_at": iso(ext.updated_at),
    }


def effective_json(eff: dict, secrets: bool = False) -> dict:
    """The effective config, secrets masked unless asked for."""
    if secrets:
        return eff
    return {**eff, "param": redact(eff.get("param")), "variable": redact(eff.get("variable"))}


class ExtensionPatch(ExtensionWrite):
    """PATCH body: any subset of the fields."""
