"""Domain bodies: {"name", "realm", "a1_hash_only", "param", "variable"}."""
from marshmallow import Schema, ValidationError, fields

from app import names
from app.schemas.common import Section, StrictBoolean, iso, page_of, redact
from app.schemas.rules import PREPROCESS_MSG, preprocessor_bait


class DomainName(fields.String):
    """A SIP domain (DNS name or IPv4), stored lowercase: DNS names are case-insensitive."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not names.is_domain(value):
            raise ValidationError("must be a DNS name or IPv4 address (ASCII; use punycode for "
                                  "international names), at most 253 characters")
        if preprocessor_bait(value):
            raise ValidationError(PREPROCESS_MSG)
        return value.lower()


class Realm(fields.String):
    """The digest realm used to compute a1-hash (defaults to the domain name)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not names.is_domain(value):
            raise ValidationError("must be a DNS name or IPv4 address, as the phones' "
                                  "challenge realm")
        if preprocessor_bait(value):
            raise ValidationError(PREPROCESS_MSG)
        return value


class DomainWrite(Schema):
    """PUT / PATCH body (the name comes from the URL; if given it must match)."""

    name = DomainName(metadata={"description": "the SIP domain, e.g. pbx.example.com"})
    realm = Realm(metadata={"description": "digest realm for a1-hash; default: the name"})
    a1_hash_only = StrictBoolean(metadata={
        "description": "store only a1-hash: passwords are hashed on write and never kept"})
    param = Section("domain", "param", metadata={
        "description": "params merged into every user (defaults: dial-string, "
                       "allow-empty-password=false)"})
    variable = Section("domain", "variable", metadata={
        "description": "variables merged into every user (default: user_context=default)"})


class DomainCreate(DomainWrite):
    """POST body."""

    name = DomainName(required=True, metadata={"description": "the SIP domain"})


class DomainOut(Schema):
    name = fields.String()
    realm = fields.String()
    a1_hash_only = fields.Boolean()
    param = fields.Dict()
    variable = fields.Dict()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


DomainPage = page_of(DomainOut, "DomainPage")


def domain_json(domain, secrets: bool = False) -> dict:
    """The API representation of a domain (secrets masked unless asked for)."""
    return {
        "name": domain.name,
        "realm": domain.realm,
        "a1_hash_only": domain.a1_hash_only,
        "param": dict(domain.param or {}) if secrets else redact(domain.param),
        "variable": dict(domain.variable or {}) if secrets else redact(domain.variable),
        "created_at": iso(domain.created_at),
        "updated_at": iso(domain.updated_at),
    }


class DomainPatch(DomainWrite):
    """PATCH body: any subset of the fields."""
