"""Directory XML for mod_xml_curl, safe against FreeSWITCH's XML preprocessor (facts §1.2).

- every value is XML-escaped, so `<X-PRE-PROCESS`, `<!--#`, `<include>` and `<?` cannot appear;
- `$` is written `&#36;`, so `$${var}` is not expanded on receipt (`${var}` still works at dial time);
- `X-pre-process` in any case gets its first dash written `&#45;`: the preprocessor drops any line
  containing that text, and the document is one line;
- newlines and tabs are character references; other control characters cannot exist in XML 1.0
  and are dropped;
- no XML declaration (a line with `<?` is dropped by the preprocessor);
- never an `ip=` or `type=` attribute (FreeSWITCH would match that user for any name);
- user attributes must be safe XML names.
"""
import json
import logging
import re

from app.names import is_safe_name

log = logging.getLogger(__name__)

NOT_FOUND = (b'<document type="freeswitch/xml"><section name="result">'
             b'<result status="not found"/></section></document>\n')

_SPECIAL = re.compile(r"""[&<>"'$\x00-\x1f\x7f]|x-pre-process""", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PREPROCESS = re.compile(r"(x)-(pre-process)", re.IGNORECASE)
# Attributes we set ourselves, or that would change which user FreeSWITCH matches.
_RESERVED_ATTRIBUTES = frozenset({"id", "ip", "type", "domain-name"})


def esc(text: str) -> str:
    """Escape a value for a double-quoted XML attribute, preprocessor-safe."""
    if not _SPECIAL.search(text):
        return text
    text = (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;").replace("$", "&#36;")
            .replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;"))
    text = _PREPROCESS.sub(r"\1&#45;\2", text)
    return _CONTROL.sub("", text)


def text_of(value) -> str | None:
    """A JSON value as the text FreeSWITCH gets (booleans as true/false); None = leave out."""
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _items(tag: str, values: dict | None) -> str:
    if not values or not isinstance(values, dict):
        return ""
    parts = []
    for name, value in values.items():
        v = text_of(value)
        if v is not None:
            parts.append(f'<{tag} name="{esc(str(name))}" value="{esc(v)}"/>')
    return "".join(parts)


def _block(tag: str, values: dict | None) -> str:
    inner = _items(tag, values)
    return f"<{tag}s>{inner}</{tag}s>" if inner else ""


def user_attributes(attributes: dict | None) -> str:
    """` name="value"` pairs for the <user> element (safe names only)."""
    if not attributes or not isinstance(attributes, dict):
        return ""
    parts = []
    for name, value in attributes.items():
        v = text_of(value)
        if v is None:
            continue
        if name in _RESERVED_ATTRIBUTES or not is_safe_name(name):
            log.warning("directory: user attribute %r not emitted (reserved or not an XML name)", name)
            continue
        parts.append(f' {name}="{esc(v)}"')
    return "".join(parts)


def domain_open(name: str, entry: dict) -> str:
    """`<document>…<domain name=..>` with the domain's params and variables (no users yet)."""
    return ('<document type="freeswitch/xml"><section name="directory">'
            f'<domain name="{esc(name)}">{_block("param", entry.get("param"))}'
            f'{_block("variable", entry.get("variable"))}')


DOMAIN_CLOSE = "</domain></section></document>\n"


def user_element(name: str, eff: dict) -> str:
    """One <user> with its attributes, params and variables."""
    return (f'<users><user id="{esc(name)}"{user_attributes(eff.get("attribute"))}>'
            f'{_block("param", eff.get("param"))}{_block("variable", eff.get("variable"))}'
            "</user></users>")


def document(domain_head: str, user_name: str | None = None, eff: dict | None = None) -> bytes:
    """The whole answer: the domain (from domain_open) with one user or none."""
    body = domain_head + (user_element(user_name, eff or {}) if user_name is not None else "") + DOMAIN_CLOSE
    return body.encode("utf-8", "replace")


class DomainHeads:
    """Rendered domain heads, keyed by (requested name, domain entry JSON); few domains exist."""

    MAX = 1024

    def __init__(self):
        self._cache: dict[tuple[str, str], str] = {}
        self._last: dict[str, str] = {}

    def get(self, name: str, entry_json: str) -> str:
        """The head for this domain entry (rendered once per distinct entry)."""
        key = (name, entry_json)
        head = self._cache.get(key)
        if head is None:
            if len(self._cache) >= self.MAX:
                self._cache.clear()
                self._last.clear()
            entry = json.loads(entry_json)
            head = self._cache[key] = self._last[name] = domain_open(name, entry if isinstance(entry, dict) else {})
        return head

    def known(self, name: str) -> str | None:
        """The last head rendered for this domain name, if any (used when no store answers)."""
        return self._last.get(name)
