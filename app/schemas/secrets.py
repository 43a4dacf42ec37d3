"""Secrets in a section: masked in responses, and a mask sent back means "keep the stored one"."""
from app.schemas.known_names import lookup
from app.schemas.section_rules import MASK, SECRET_NAMES


def redact(section: dict | None) -> dict:
    """A copy of a section with every secret replaced by the mask (a secret in any letter
    case: a row stored before names were folded may still say `PASSWORD`)."""
    return {k: (MASK if v is not None and k.lower() in SECRET_NAMES else v)
            for k, v in (section or {}).items()}


def unmask(section: dict, stored: dict | None, field: str) -> tuple[dict, dict]:
    """Replace masked secrets with the stored ones (found ignoring letter case). Returns
    (section, errors by name)."""
    out, errors = dict(section), {}
    for name, value in section.items():
        if value == MASK and name.lower() in SECRET_NAMES:
            kept = lookup(stored, name.lower())
            if kept is not None:
                out[name] = kept
            else:
                errors[name] = [f"'{MASK}' is the mask GET shows; no {name} is stored to keep, "
                                f"send the real value"]
    return out, ({field: errors} if errors else {})
