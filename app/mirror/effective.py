"""The effective configuration of an extension: its template deep-merged with its own values.

The result has exactly SPEC §1's shape: {"param": {...}, "variable": {...}, "attribute": {...}}.
An extension's own value of `null` removes what the template set.
"""
SECTIONS = ("param", "variable", "attribute")


def overlay(base: dict | None, own: dict | None, keep_null: bool = False) -> dict:
    """`own` laid over `base`, names compared ignoring letter case as FreeSWITCH does: an own
    `Foo` replaces the base's `foo`, so the merged section never holds both. A null removes
    the base's value (or, with keep_null, is kept as null)."""
    if not own:
        return dict(base) if base else {}
    if not base:  # the mirror's common case; stored sections hold no case duplicates
        return dict(own) if keep_null else {k: v for k, v in own.items() if v is not None}
    out = dict(base)
    lower = None  # lowercase -> key of out, built only when a name is not found as spelled
    for name, value in own.items():
        if name not in out:
            if lower is None:
                lower = {k.lower(): k for k in out}
            old = lower.get(name.lower())
            if old is not None:
                del out[old]
        if value is None and not keep_null:
            out.pop(name, None)
            if lower is not None:
                lower.pop(name.lower(), None)
        else:
            out[name] = value
            if lower is not None:
                lower[name.lower()] = name
    return out


def merge_section(base: dict | None, own: dict | None) -> dict:
    """The effective section: base with own laid over it (an own null hides the base's)."""
    return overlay(base, own)


def effective(extension, template=None) -> dict:
    """Merged {param, variable, attribute} of an extension (template may be passed preloaded)."""
    tpl = template if template is not None else extension.template
    return {s: merge_section(getattr(tpl, s, None) if tpl else None, getattr(extension, s))
            for s in SECTIONS}


def number_alias(eff: dict) -> str | None:
    """The effective number-alias attribute, if any."""
    value = eff.get("attribute", {}).get("number-alias")
    return str(value) if value not in (None, "") else None
