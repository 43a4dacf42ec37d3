"""Template bodies: {"name", "param", "variable", "attribute"} (shared by all domains)."""
from marshmallow import Schema, ValidationError, fields

from app import names
from app.schemas import patterns
from app.schemas.fields import NAME_FROM_URL, Section
from app.schemas.out import Entries, Masked, Moment, mirror_field, page_of
from app.schemas.section_rules import PREPROCESS_MSG, preprocessor_bait


class TemplateName(fields.String):
    openapi = {"pattern": patterns.TEMPLATE, "maxLength": 64}

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

    name = TemplateName(metadata=dict(NAME_FROM_URL))
    param = Section("template", "param", metadata={"description": "default params"})
    variable = Section("template", "variable", metadata={"description": "default variables"})
    attribute = Section("template", "attribute", metadata={
        "description": "default <user> attributes (cacheable; number-alias is per extension)"})


class TemplateCreate(TemplateWrite):
    """POST body."""

    name = TemplateName(required=True, metadata={"description": "template name"})


class TemplateOut(Schema):
    """A template as the API shows it (and, in a 202, the re-mirror its change queued)."""

    name = fields.String()
    param = Masked()
    variable = Masked()
    attribute = Entries()
    created_at = Moment()
    updated_at = Moment()
    mirror = mirror_field()


TemplatePage = page_of(TemplateOut, "TemplatePage")


class TemplatePatch(TemplateWrite):
    """PATCH body: any subset of the fields."""
