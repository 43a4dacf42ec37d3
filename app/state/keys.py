"""Every Redis key fscti reads or writes is named here, and nowhere else.

The `cti_*` names and the `gui` hashes are a compatibility contract with mod_cti GUIs (SPEC §1-§3).
Keys of fscti's own start with `fscti:`.
"""


def exten(domain: str) -> str:
    """Hash: field = extension, value = effective JSON {param, variable, attribute} (SPEC §1)."""
    return f"cti_exten@{domain}"


def userinfo(domain: str) -> str:
    """Hash: field = extension, value = registration and live calls JSON (SPEC §2)."""
    return f"cti_userinfo@{domain}"


def domains() -> str:
    """Hash: field = domain name, value = JSON {realm, param, variable} for the directory."""
    return "fscti:domains"


def alias(domain: str) -> str:
    """Hash: field = number-alias, value = extension name."""
    return f"fscti:alias@{domain}"


def mirror_rebuild_marker(domain: str) -> str:
    """String: name of the aside hash while `cti_exten@<domain>` is being rebuilt."""
    return f"fscti:mirror:rebuilding@{domain}"


def disabled(domain: str) -> str:
    """Set: extensions that exist in SQL but are disabled (answered as unknown users)."""
    return f"fscti:disabled@{domain}"
