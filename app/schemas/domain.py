"""Domain bodies: {"name", "realm", "a1_hash_only", "param", "variable"}."""
from marshmallow import Schema, ValidationError, fields

from app import names
from app.schemas import patterns
from app.schemas.fields import NAME_FROM_URL, Section, StrictBoolean
from app.schemas.out import Masked, Moment, mirror_field, page_of
from app.schemas.section_rules import PREPROCESS_MSG, preprocessor_bait


class DomainName(fields.String):
    """A SIP domain (DNS name or IPv4), stored lowercase: DNS names are case-insensitive."""

    openapi = {"pattern": patterns.DOMAIN, "maxLength": 253}

    def _deserialize(self, value, attr, data, **kwargs):
        if not names.is_domain(value):
            raise ValidationError("must be a DNS name or IPv4 address (ASCII; use punycode for "
                                  "international names), at most 253 characters")
        if preprocessor_bait(value):
            raise ValidationError(PREPROCESS_MSG)
        return value.lower()


class Realm(fields.String):
    """The digest realm used to compute a1-hash (defaults to the domain name)."""

    openapi = {"pattern": patterns.DOMAIN, "maxLength": 253}

    def _deserialize(self, value, attr, data, **kwargs):
        if not names.is_domain(value):
            raise ValidationError("must be a DNS name or IPv4 address, as the phones' "
                                  "challenge realm")
        if preprocessor_bait(value):
            raise ValidationError(PREPROCESS_MSG)
        return value


class DomainWrite(Schema):
    """PUT / PATCH body (the name comes from the URL; if given it must match)."""

    name = DomainName(metadata=dict(NAME_FROM_URL))
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
    """A domain as the API shows it (and, in a 202, the re-mirror its change queued)."""

    name = fields.String()
    realm = fields.String()
    a1_hash_only = fields.Boolean()
    param = Masked()
    variable = Masked()
    created_at = Moment()
    updated_at = Moment()
    mirror = mirror_field()


DomainPage = page_of(DomainOut, "DomainPage")


class DomainPatch(DomainWrite):
    """PATCH body: any subset of the fields."""
