"""The directory names FreeSWITCH reads, and the letter-case rule for every name we store.

FreeSWITCH reads params and variables ignoring letter case (and merges them so), but
attribute names exactly (docs/api.md, "Names and letter case", with the source references).
So a name listed here, in any letter case, is stored in its canonical lowercase spelling; any
other name keeps its spelling; two names of one section equal ignoring case are refused.
Folding happens on write, so the directory hot path reads canonical rows and never folds.
"""
from app.schemas.rules import RULES, SECRET_NAMES

# mod_sofia: user params of the registration / INVITE auth, and the registration controls
# (sip-* params and `register-gateway` are copied into the registration's variables).
SOFIA = {
    "password", "a1-hash", "auth-acl", "allow-empty-password", "sip-forbid-register",
    "user-agent-filter", "max-registrations-per-extension", "mwi-account", "register-gateway",
    "reverse-auth-user", "reverse-auth-pass",
    "sip-force-expires", "sip-force-expires-min", "sip-force-expires-max",
    "sip-expires-max-deviation", "sip-force-contact", "sip-allow-multiple-registrations",
    "sip-force-user", "sip-force-extension",
}
# mod_voicemail's user params (and the `timezone` variable it reads).
VOICEMAIL = {
    "vm-password", "vm-a1-hash", "vm-enabled", "vm-mailto", "vm-notify-mailto", "vm-mailfrom",
    "vm-cc", "vm-email-all-messages", "vm-notify-email-all-messages",
    "vm-keep-local-after-email", "vm-attach-file", "vm-convert-cmd", "vm-convert-ext",
    "vm-storage-dir", "vm-domain-storage-dir", "email-addr", "storage-dir", "timezone",
}
# The user/ endpoint (mod_dptools), mod_verto, and the variables of FreeSWITCH's vanilla
# directory (conf/vanilla/directory/default.xml and default/1000.xml).
OTHER = {
    "dial-string", "jsonrpc-allowed-methods", "jsonrpc-allowed-event-channels",
    "user_context", "effective_caller_id_name", "effective_caller_id_number",
    "outbound_caller_id_name", "outbound_caller_id_number", "toll_allow", "accountcode",
    "callgroup", "registration_metadata", "record_stereo", "default_gateway",
    "default_areacode", "transfer_fallback_extension",
}
# Canonical names of params and variables (FreeSWITCH matches either section ignoring case).
KNOWN = frozenset(SOFIA | VOICEMAIL | OTHER | SECRET_NAMES
                  | {name for section, name in RULES if section != "attribute"})
# Attributes fscti knows; the reserved ones are refused in any letter case (rules.py).
KNOWN_ATTRIBUTES = frozenset({name for section, name in RULES if section == "attribute"})
# Families matched by prefix (`strncasecmp`): only the prefix is folded, the rest names a
# channel variable of the outgoing leg and keeps its spelling.
FOLD_PREFIXES = ("dial-var-",)


def canonical(section: str, name: str) -> str:
    """The spelling a name is stored under: known names in lowercase, others unchanged."""
    low = name.lower()
    if section == "attribute":
        return low if low in KNOWN_ATTRIBUTES else name
    if low in KNOWN:
        return low
    for prefix in FOLD_PREFIXES:
        if low.startswith(prefix):
            return prefix + name[len(prefix):]
    return name


def fold_input(section: str, values: dict) -> tuple[dict, dict]:
    """Known names of a request's section in canonical spelling, and an error for every name
    that equals another ignoring case (each message names the other)."""
    out, first, errors = {}, {}, {}
    for name, value in values.items():
        low = name.lower()
        other = first.setdefault(low, name)
        if other != name:
            msg = ("{} and {} are the same name for FreeSWITCH (names are compared ignoring "
                   "letter case); give it once")
            errors.setdefault(other, []).append(msg.format(repr(other), repr(name)))
            errors.setdefault(name, []).append(msg.format(repr(name), repr(other)))
            continue
        out[canonical(section, name)] = value
    return out, errors


def fold_stored(section: str, values: dict | None) -> tuple[dict, list[str]]:
    """A stored section in canonical spelling, names equal ignoring case resolved the same
    way every time: a value beats a null (FreeSWITCH never saw the null), then the canonical
    spelling, then the first. Returns (section, what was changed, in words)."""
    groups: dict[str, list[str]] = {}
    for name in values or {}:
        groups.setdefault(name.lower(), []).append(name)
    out, notes = {}, []
    for names in groups.values():
        target = canonical(section, names[0])
        keep = min(names, key=lambda n: (values[n] is None, n != target, names.index(n)))
        out[target] = values[keep]
        if len(names) > 1:
            dropped = ", ".join(repr(n) for n in names if n != keep)
            notes.append(f"{section} {keep!r} kept as {target!r}, dropped {dropped}")
        elif keep != target:
            notes.append(f"{section} {keep!r} renamed {target!r}")
    return out, notes


def lookup(values: dict | None, name: str):
    """The value of `name` (canonical) in a section, whatever its letter case there."""
    if not values:
        return None
    if name in values:
        return values[name]
    for key, value in values.items():
        if key.lower() == name:
            return value
    return None


def has(values: dict | None, name: str) -> bool:
    """Whether a section holds `name` (canonical) in any letter case, even as null."""
    return bool(values) and (name in values or any(k.lower() == name for k in values))
