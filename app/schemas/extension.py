"""Extension bodies: {"name", "template", "enabled", "param", "variable", "attribute"}."""
from marshmallow import Schema, ValidationError, fields, validate

from app import names
from app.schemas import patterns
from app.schemas.fields import NAME_FROM_URL, PageQuery, Section, StrictBoolean
from app.schemas.out import Entries, Masked, Moment, page_of
from app.schemas.section_rules import PREPROCESS_MSG, preprocessor_bait
from app.schemas.template import TemplateName

MAX_IMPORT_ROWS = 50_000


# Path words of the API under /extensions/ (GET .../extensions/export would shadow them).
RESERVED_NAMES = {"import", "export"}


class ExtensionName(fields.String):
    openapi = {"pattern": patterns.EXTENSION_NAME, "maxLength": 64}

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

    name = ExtensionName(metadata=dict(NAME_FROM_URL))
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
    """An extension's own values as the API shows them (see /effective for the merged ones)."""

    name = fields.String()
    domain = fields.String(attribute="domain.name")
    template = fields.Function(lambda ext: ext.template.name if ext.template else None,
                               allow_none=True)
    enabled = fields.Boolean()
    param = Masked()
    variable = Masked()
    attribute = Entries()
    created_at = Moment()
    updated_at = Moment()


class EffectiveOut(Schema):
    """Exactly the value mirrored into Redis `cti_exten@<domain>` (SPEC §1)."""

    param = Masked()
    variable = Masked()
    attribute = Entries()


class ExtensionRow(Schema):
    """An extension as export writes it: an import row (secrets masked unless asked for)."""

    name = fields.String()
    template = fields.String(allow_none=True)
    enabled = fields.Boolean()
    param = Masked()
    variable = Masked()
    attribute = Entries()


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


EXPORT_ROWS = ExtensionRow(many=True)

CSV_FORMAT = ("one row per extension; columns `name`, `template`, `enabled`, then "
              "`param.<name>`, `variable.<name>`, `attribute.<name>`. An empty cell means "
              "\"not set\", `\\N` stands for null (hides the template's value), `\\E` for the "
              "empty string")
CSV_TEXT = {"type": "string", "description": CSV_FORMAT}
CSV_DISPOSITION = {"Content-Disposition": {
    "description": "attachment; filename=\"<domain>-extensions.csv\"",
    "schema": {"type": "string"}}}
IMPORT_BODY = {"required": True, "content": {
    "application/json": {"schema": {"type": "array", "maxItems": MAX_IMPORT_ROWS,
                                    "items": {"$ref": "#/components/schemas/ExtensionCreate"}}},
    "text/csv": {"schema": CSV_TEXT},
    "application/csv": {"schema": CSV_TEXT}}}


class ImportResult(Schema):
    created = fields.Integer()
    replaced = fields.Integer()
    total = fields.Integer()


class ExtensionPatch(ExtensionWrite):
    """PATCH body: any subset of the fields."""
