"""Whitelists for every name that reaches FreeSWITCH (directory XML, ESL commands) or Redis keys.

One definition, used by the API schemas and by the ESL command builders alike. Always match
with `fullmatch` (a `$` would accept a trailing newline).
"""
import re

# SIP user part we accept for an extension or number-alias: letters, digits and `_ . + -`,
# starting with a letter, digit or `+`. Nothing here can split an ESL argv, a dial string,
# an inline dialplan or a `${}` expansion.
EXTENSION_RE = re.compile(r"^[A-Za-z0-9+][A-Za-z0-9_.+-]{0,63}$")

# A DNS host name or a dotted IPv4 address (a SIP domain).
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)

# A FreeSWITCH call/channel/job UUID, lowercase as FreeSWITCH prints it.
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# A directory param / variable / attribute name, or a template name.
SAFE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$")


def is_extension(value) -> bool:
    return isinstance(value, str) and EXTENSION_RE.fullmatch(value) is not None


def is_domain(value) -> bool:
    return isinstance(value, str) and DOMAIN_RE.fullmatch(value) is not None


def is_uuid(value) -> bool:
    return isinstance(value, str) and UUID_RE.fullmatch(value) is not None


def is_safe_name(value) -> bool:
    return isinstance(value, str) and SAFE_NAME_RE.fullmatch(value) is not None
