"""Parse only what the directory needs from mod_xml_curl's raw form body (facts §1.1).

The body is `hostname=..&section=..&tag_name=..&key_name=..&key_value=..&<event headers>`. The
five leading fields are NOT URL-encoded (a realm sent by a phone can contain `&`), the event
headers are, with `%XX` only (never `+`). FreeSWITCH appends `key`, `user`, `domain` (and `ip`)
LAST, after any header or originate variable a caller controls, so for those the last occurrence
is the authentic one; message-count's retry repeats them with `key=number-alias`, which the last
occurrence also gets right. `section` is the second field: its first occurrence is authentic.
Scanning with bytes.find/rfind avoids splitting and decoding 40-odd fields per request.
"""
from typing import NamedTuple
from urllib.parse import unquote

from app.names import is_domain, is_extension


class Query(NamedTuple):
    section: str
    domain: str  # '' when absent or not a valid domain name
    user: str  # '' when absent (domain lookup) ; '\0' when present but not a valid SIP user
    by_alias: bool
    purpose: str


def _value(raw: bytes, name: bytes, last: bool) -> bytes | None:
    """The value of field `name` (its last or first occurrence), or None."""
    pat = b"&" + name + b"="
    i = raw.rfind(pat) if last else raw.find(pat)
    if i >= 0:
        start = i + len(pat)
    elif raw.startswith(name + b"="):
        start = len(name) + 1
    else:
        return None
    end = raw.find(b"&", start)
    return raw[start:] if end < 0 else raw[start:end]


def _text(value: bytes | None) -> str:
    if not value:
        return ""
    s = value.decode("utf-8", "replace")
    return unquote(s) if "%" in s else s


INVALID_USER = "\0"


def parse(raw: bytes) -> Query:
    """The fields the directory answer depends on."""
    section = _text(_value(raw, b"section", last=False))
    domain = _text(_value(raw, b"domain", last=True)) or _text(_value(raw, b"key_value", last=False))
    user = _text(_value(raw, b"user", last=True))
    key = _value(raw, b"key", last=True)
    purpose = _text(_value(raw, b"purpose", last=True)) if not user else ""
    if domain and not is_domain(domain):
        domain = ""
    if user and not is_extension(user):
        user = INVALID_USER
    return Query(section, domain, user, key == b"number-alias", purpose)


# --- the other direction: how FreeSWITCH builds the body (tests, benchmark, manual replays) ---

_UNSAFE = set(b"\r\n `#%&+:;<=>?@[\\]^{|}\"")


def fs_urlencode(value: str) -> str:
    """FreeSWITCH's switch_url_encode: %XX (uppercase) for bytes < 0x20, > '~' and its unsafe set."""
    out = []
    for b in value.encode("utf-8"):
        out.append(f"%{b:02X}" if b < 0x20 or b > 0x7E or b in _UNSAFE else chr(b))
    return "".join(out)


def encode(pairs) -> bytes:
    """A mod_xml_curl body from (name, value) pairs: the five leading fields raw, the rest encoded."""
    parts = []
    for i, (name, value) in enumerate(pairs):
        parts.append(f"{name}={value if i < 5 else fs_urlencode(value)}")
    return "&".join(parts).encode("utf-8")
