"""Template bodies: {"name", "param", "variable", "attribute"} (shared by all domains)."""
from marshmallow import Schema, ValidationError, fields

from app import names
from app.schemas.common import Section, iso, page_of, redact
from app.schemas.rules import PREPROCESS_MSG, preprocessor_bait


class TemplateName(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        if not names.is_safe_name(value):
            raise ValidationError("must be a letter, then letters, digits, '_', '.' or '-' "
                                  "(at most 64)")
        if preprocessor_bait(value):
            raise ValidationError(PREPROCESS_MSG)
        if len(value) > 64:
            raise ValidationError("at most 64 characters")
        return value


class TemplateWrite(Schema):
    """PUT / PATCH body (the name comes from the URL; if given it must match)."""

    name = TemplateName(metadata={"description": "template name"})
    param = Section("template", "param", metadata={"description": "default params"})
    variable = Section("template", "variable", metadata={"description": "default variables"})
    attribute = Section("template", "attribute", metadata={
        "description": "default <user> attributes (cacheable; number-alias is per extension)"})


class TemplateCreate(TemplateWrite):
    """POST body."""

    name = TemplateName(required=True, metadata={"description": "template name"})


class TemplateOut(Schema):
    name = fields.String()
    param = fields.Dict()
    variable = fields.Dict()
    attribute = fields.Dict()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


TemplatePage = page_of(TemplateOut, "TemplatePage")


def template_json(tpl, secrets: bool = False) -> dict:
    """The API representation of a template (secrets masked unless asked for)."""
    return {
        "name": tpl.name,
        "param": dict(tpl.param or {}) if secrets else redact(tpl.param),
        "variable": dict(tpl.variable or {}) if secrets else redact(tpl.variable),
        "attribute": dict(tpl.attribute or {}),
        "created_at": iso(tpl.created_at),
        "updated_at": iso(tpl.updated_at),
    }


class TemplatePatch(TemplateWrite):
    """PATCH body: any subset of the fields."""
