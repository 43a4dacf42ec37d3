"""Field types and query schemas shared by domains, templates and extensions (and their
queries): sections, strict booleans, free-text queries, names, paging."""
from marshmallow import Schema, ValidationError, fields, validate

from app.schemas import patterns
from app.schemas.known_names import fold_input
from app.schemas.section_rules import MAX_ENTRIES, as_bool, entry_errors

MAX_PER_PAGE = 1000


class Section(fields.Dict):
    """A `param`, `variable` or `attribute` object, every entry checked by
    app.schemas.section_rules; loads with known names in their canonical case
    (app.schemas.known_names)."""

    def __init__(self, owner: str, section: str, nullable: bool = True, **kwargs):
        kwargs.setdefault("metadata", {}).setdefault(
            "description", f"{section} name → value (string, number or boolean)")
        super().__init__(keys=fields.String(), values=fields.Raw(allow_none=nullable), **kwargs)
        self.owner, self.section, self.nullable = owner, section, nullable

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("must be an object of name: value")
        if len(value) > MAX_ENTRIES:
            raise ValidationError(f"at most {MAX_ENTRIES} entries")
        folded, errors = fold_input(self.section, value)
        for name, item in value.items():
            msgs = entry_errors(self.owner, self.section, name, item, self.nullable)
            if msgs:
                errors[name] = msgs + errors.get(name, [])
        if errors:
            raise ValidationError(errors)
        return folded


# A write's `name` repeats the URL's; readOnly in the document (generated requests leave it out).
NAME_FROM_URL = {"readOnly": True, "description": "the name comes from the URL: a body may "
                 "repeat it (GET, edit, PUT) but not change it"}


class StrictBoolean(fields.Boolean):
    """true/false only (JSON booleans or the strings "true"/"false"), never 1/"yes"/"on"."""

    def _deserialize(self, value, attr, data, **kwargs):
        result = as_bool(value)
        if result is None:
            raise ValidationError("must be true or false")
        return result


def no_control_characters(value: str) -> None:
    """Refuse control characters in a query value: none belongs in a filter, and PostgreSQL
    text cannot hold NUL (the query would fail with a 500 instead of a 422)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError("must not contain control characters")


def query_text(max_length: int, min_length: int | None = None, **kwargs) -> fields.String:
    """An optional free-text query parameter: at most `max_length` characters, no control ones."""
    kwargs.setdefault("metadata", {}).setdefault("pattern", patterns.QUERY_TEXT)
    return fields.String(load_default=None, validate=[
        validate.Length(min=min_length, max=max_length), no_control_characters], **kwargs)


def whitelisted(check, pattern: str, error: str, **kwargs) -> fields.String:
    """A string field that must pass an app.names check (a whole-string match: a regex
    validator's `$` would let a trailing newline through); `pattern` documents it."""
    def validator(value):
        if not check(value):
            raise ValidationError(error)
    kwargs.setdefault("metadata", {}).setdefault("pattern", pattern)
    return fields.String(validate=validator, **kwargs)


class PageQuery(Schema):
    """?page=&per_page=&q= of every collection."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**7),
                          metadata={"description": "1-based page number"})
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE),
                              metadata={"description": f"items per page (max {MAX_PER_PAGE})"})
    q = query_text(128, metadata={"description": "case-insensitive substring of the name "
                                                 "(and, for extensions, of the number-alias)"})


class SecretsQuery(Schema):
    """?include_secrets=true (admin only): show passwords and hashes instead of the mask."""

    include_secrets = StrictBoolean(load_default=False, metadata={
        "description": "admin only: return passwords/a1-hashes instead of the mask"})


def path_name(field: fields.Field, value: str, what: str = "name") -> str:
    """Validate a name taken from the URL with the body's field rule (422 naming `name`)."""
    from app.errors import ValidationFailed

    try:
        return field.deserialize(value)
    except ValidationError as exc:
        raise ValidationFailed(f"invalid {what} in the URL", {"name": exc.messages}) from exc
