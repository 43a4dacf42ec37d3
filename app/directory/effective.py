"""The effective configuration of an extension: its template deep-merged with its own values.

The result has exactly SPEC §1's shape: {"param": {...}, "variable": {...}, "attribute": {...}}.
An extension's own value of `null` removes what the template set.
"""
SECTIONS = ("param", "variable", "attribute")


def merge_section(base: dict | None, own: dict | None) -> dict:
    out = dict(base or {})
    for name, value in (own or {}).items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def effective(extension, template=None) -> dict:
    """Merged {param, variable, attribute} of an extension (template may be passed preloaded)."""
    tpl = template if template is not None else extension.template
    return {s: merge_section(getattr(tpl, s, None) if tpl else None, getattr(extension, s))
            for s in SECTIONS}


def number_alias(eff: dict) -> str | None:
    """The effective number-alias attribute, if any."""
    value = eff.get("attribute", {}).get("number-alias")
    return str(value) if value not in (None, "") else None
