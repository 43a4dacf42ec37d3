"""What /openapi.json says about a `param`, `variable` or `attribute` object (OpenAPI 3.1).

app/schemas/section_rules.py decides; this module only describes its rules in JSON Schema, as
closely as JSON Schema can: names (`propertyNames`), the typed rules of known names
(`patternProperties`, in any letter case, as FreeSWITCH compares names), the names an owner
may not set (`not: {}`), and the generic value rule for every other name. Where a rule cannot
be written exactly (an IPv6 ACL in compressed form, any regular expression), the schema
describes a safe subset and the description says what else is accepted.
tests/unit/test_openapi_patterns.py holds this table to section_rules.RULES.
"""
from app.schemas import patterns
from app.schemas.section_rules import (FORBIDDEN, INT32_MAX, INT64, MASK, MAX_ENTRIES,
                                       MAX_VALUE_LEN, RESERVED_ATTRIBUTES)

_TRUE_FALSE = r"^(?:[tT][rR][uU][eE]|[fF][aA][lL][sS][eE])$"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}(?:/(?:3[0-2]|[12]?[0-9]))?"
_IPV6 = r"[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4}){7}(?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?"
_NET = rf" *(?:{_IPV4}|{_IPV6}) *"

TEXT = {"type": "string", "maxLength": MAX_VALUE_LEN, "pattern": patterns.VALUE_TEXT}
# The generic rule: a string, number or boolean safe in the directory XML.
VALUE = {"anyOf": [
    TEXT,
    {"type": "integer", "minimum": -INT64, "maximum": INT64 - 1},
    {"type": "number", "not": {"type": "integer"}},
    {"type": "boolean"},
]}
BOOLEAN = {"anyOf": [{"type": "boolean"}, {"type": "string", "pattern": _TRUE_FALSE}]}

# (section, name) → the schema of its value (app.schemas.section_rules.RULES, one entry each).
RULE_SCHEMAS = {
    ("param", "password"): {
        "type": "string", "minLength": 1, "maxLength": 128, "pattern": patterns.VALUE_TEXT,
        "not": {"const": MASK},
        "description": f"'{MASK}' (what GET shows) keeps the stored password"},
    ("param", "a1-hash"): {
        "type": "string", "pattern": "^[0-9a-f]{32}$",
        "description": f"md5 of name:realm:password, lowercase hex; '{MASK}' keeps the stored "
                       f"one"},
    ("param", "auth-acl"): {
        "type": "string", "pattern": rf"^(?:{_NET}(?:,{_NET})*)?$",
        "description": "comma-separated IP addresses or CIDR networks (IPv6 in compressed "
                       "form too, e.g. 2001:db8::/32)"},
    ("param", "allow-empty-password"): BOOLEAN,
    ("param", "sip-forbid-register"): BOOLEAN,
    ("param", "user-agent-filter"): {
        "type": "string", "maxLength": MAX_VALUE_LEN,
        "pattern": "^" + patterns.NO_PREPROCESS + r"[A-Za-z0-9 _./:-]*$",
        "description": "a regular expression matched against the phone's User-Agent (any "
                       "valid one; this schema lists only plain text)"},
    ("param", "max-registrations-per-extension"): {"anyOf": [
        {"type": "integer", "minimum": 1, "maximum": INT32_MAX},
        {"type": "string", "pattern": "^[1-9][0-9]{0,8}$"}]},
    ("attribute", "cacheable"): {"anyOf": [
        {"const": True},
        {"type": "integer", "minimum": 0, "maximum": INT32_MAX},
        {"type": "string", "pattern": r"^(?:[tT][rR][uU][eE]|[0-9]{1,9})$"}],
        "description": "milliseconds, or true (cached until flushed); leave it out to disable "
                       "caching: FreeSWITCH caches any other value forever"},
    ("attribute", "number-alias"): {"anyOf": [
        {"type": "string", "pattern": patterns.EXTENSION},
        {"type": "integer", "minimum": 0, "maximum": 10**18}],
        "description": "another SIP user part reaching this extension (unique in the domain)"},
}

NEVER = {"not": {}}


def any_case(name: str) -> str:
    """An anchored pattern matching `name` in any letter case."""
    return "^" + "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in name) + "$"


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def section_schema(owner: str, section: str, nullable: bool) -> dict:
    """The JSON Schema of one section of a domain, template or extension body."""
    named = {name: schema for (sec, name), schema in RULE_SCHEMAS.items() if sec == section}
    for (sec, name), why in FORBIDDEN[owner].items():
        if sec == section:
            named[name] = {**NEVER, "description": f"not allowed on a {owner}: {why}"}
    if section == "attribute":
        for name, why in RESERVED_ATTRIBUTES.items():
            named[name] = {**NEVER, "description": f"reserved: {why}"}
    wrap = _nullable if nullable else (lambda s: s)
    doc = {
        "type": "object",
        "maxProperties": MAX_ENTRIES,
        "propertyNames": {"pattern": patterns.SAFE_NAME},
        "additionalProperties": wrap(VALUE),
    }
    if named:
        doc["patternProperties"] = {
            any_case(name): (schema if schema.get("not") == {} else wrap(schema))
            for name, schema in sorted(named.items())}
    return doc
