"""The rules every directory param, variable and attribute must pass before it is stored.

One table, shared by domains, templates, extensions and the bulk import. Each check returns a
list of messages (empty when the value is fine), so the caller can name the field in the error.
Values end up in FreeSWITCH's directory XML (facts §1.2), so besides the typed rules every value
is a plain string, number or boolean with no control character and no `X-pre-process`.
"""
import ipaddress
import math
import re

from app import names

MAX_VALUE_LEN = 4096
MAX_ENTRIES = 256
INT32_MAX = 2**31 - 1
INT64 = 2**63

# Values hidden in responses unless an admin asks for secrets (digest-equivalent ones too:
# an a1-hash is enough to answer a digest challenge).
SECRET_NAMES = frozenset({"password", "a1-hash", "vm-password", "vm-a1-hash", "reverse-auth-pass"})
# What GET shows instead of a secret. Sent back unchanged in a write, it means "keep the
# stored value", so GET → edit → PUT never overwrites a password with the mask.
MASK = "********"

# Attributes of <user> that change how FreeSWITCH finds the user (facts §1.2): never settable.
RESERVED_ATTRIBUTES = {
    "id": "is the extension name; set `name` instead",
    "ip": "would make FreeSWITCH match this user for any name from that address",
    "type": "would turn the user into a pointer or match it for every name",
    "domain-name": "is set by FreeSWITCH from the domain",
}

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_DIGITS = re.compile(r"[0-9]{1,12}")
_A1 = re.compile(r"[0-9a-f]{32}")


def preprocessor_bait(text: str) -> bool:
    """Whether FreeSWITCH's XML preprocessor would drop or run the line holding this text."""
    return "x-pre-process" in text.lower()


PREPROCESS_MSG = "must not contain 'X-pre-process' (FreeSWITCH's XML preprocessor would run it)"


def value_errors(value) -> list[str]:
    """The generic rule: a string, number or boolean that is safe in the directory XML."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [] if -INT64 <= value < INT64 else ["integer out of range"]
    if isinstance(value, float):
        return [] if math.isfinite(value) else ["must be a finite number"]
    if not isinstance(value, str):
        return ["must be a string, number or boolean"]
    if len(value) > MAX_VALUE_LEN:
        return [f"longer than {MAX_VALUE_LEN} characters"]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return ["must be valid Unicode text"]
    if _CONTROL.search(value):
        return ["must not contain control characters (NUL, CR, LF, ...)"]
    if preprocessor_bait(value):
        return [PREPROCESS_MSG]
    return []


def as_bool(value) -> bool | None:
    """True/False for a boolean or "true"/"false" (any case), else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def as_int(value) -> int | None:
    """The integer of an int (not bool) or a string of digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None


def _password(v):
    if not isinstance(v, str):
        return ["must be a string (quote digits: \"1234\")"]
    if v == "":
        return ["must not be empty; to allow registering without a password, leave it out "
                "and set allow-empty-password"]
    return [] if len(v) <= 128 else ["longer than 128 characters"]


def _a1_hash(v):
    ok = isinstance(v, str) and _A1.fullmatch(v)
    return [] if ok else ["must be 32 lowercase hex digits (md5 of name:realm:password)"]


def _auth_acl(v):
    if not isinstance(v, str):
        return ["must be a string of comma-separated IP addresses or CIDR networks"]
    if v == "":
        return []
    bad = []
    for part in v.split(","):
        try:
            ipaddress.ip_network(part.strip(), strict=False)
        except ValueError:
            bad.append(part.strip())
    return [f"not an IP address or CIDR network: {', '.join(repr(b) for b in bad)}"] if bad else []


def _boolean(v):
    return [] if as_bool(v) is not None else ["must be true or false"]


def _regex(v):
    if not isinstance(v, str):
        return ["must be a regular expression string"]
    try:
        re.compile(v)
    except (re.error, RecursionError, OverflowError) as exc:
        return [f"not a valid regular expression: {exc}"]
    return []


def _positive_int(v):
    n = as_int(v)
    return [] if n is not None and 1 <= n <= INT32_MAX else [
        f"must be a positive integer (1 to {INT32_MAX})"]


def _cacheable(v):
    # facts §0.9: any non-numeric non-empty value, even "false", caches the user FOREVER.
    if v is True or (isinstance(v, str) and v.lower() == "true"):
        return []
    n = as_int(v)
    if n is not None and 0 <= n <= INT32_MAX:
        return []
    return ["must be milliseconds (a non-negative integer) or true (cache until flushed); "
            "to disable caching, leave it out — FreeSWITCH caches any other value forever"]


def _number_alias(v):
    if isinstance(v, int) and not isinstance(v, bool):
        v = str(v)
    if not names.is_extension(v):
        return ["must be a SIP user part: letters, digits and _ . + -, at most 64"]
    return [PREPROCESS_MSG] if preprocessor_bait(v) else []


RULES = {
    ("param", "password"): _password,
    ("param", "a1-hash"): _a1_hash,
    ("param", "auth-acl"): _auth_acl,
    ("param", "allow-empty-password"): _boolean,
    ("param", "sip-forbid-register"): _boolean,
    ("param", "user-agent-filter"): _regex,
    ("param", "max-registrations-per-extension"): _positive_int,
    ("attribute", "cacheable"): _cacheable,
    ("attribute", "number-alias"): _number_alias,
}

# Names an owner may not set, and why.
FORBIDDEN = {
    "domain": {("param", "a1-hash"): "depends on the extension name; set it on the extension"},
    "template": {
        ("param", "a1-hash"): "depends on the extension name; set it on the extension",
        ("attribute", "number-alias"): "must be unique per extension; set it on the extension",
    },
    "extension": {},
}


def entry_errors(owner: str, section: str, name, value, nullable: bool) -> list[str]:
    """Messages for one `name: value` of a section (`owner` is domain, template or extension)."""
    if not names.is_safe_name(name):
        return ["not a safe name: a letter, then letters, digits, '_', '.' or '-' (at most 128)"]
    if preprocessor_bait(name):
        return [PREPROCESS_MSG]
    # Every table is keyed by lowercase names and read ignoring case: FreeSWITCH reads
    # `PASSWORD` as the password (app.schemas.known_names).
    low = name.lower()
    why = FORBIDDEN[owner].get((section, low))
    if why:
        return [f"not allowed on a {owner}: {why}"]
    if section == "attribute" and low in RESERVED_ATTRIBUTES:
        return [f"reserved: {RESERVED_ATTRIBUTES[low]}"]
    if value is None:
        return [] if nullable else ["must not be null"]
    if low in SECRET_NAMES and value == MASK:
        return []  # "keep the stored value"; the service resolves it
    errors = value_errors(value)
    if errors:
        return errors
    rule = RULES.get((section, low))
    return rule(value) if rule else []
