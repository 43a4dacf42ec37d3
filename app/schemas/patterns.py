"""The input rules as regular expressions for the OpenAPI document (`pattern`).

OpenAPI patterns are ECMA-262 and unanchored; these are anchored and use only syntax that
means the same in ECMA-262 and Python's `re` (so tests can check them with `fullmatch`
against the fields they document). They are built from app.names, so the document follows
the whitelists; the app itself keeps validating with its own code.
"""
from app import names

# Nowhere "x-pre-process", in any letter case (FreeSWITCH's XML preprocessor would run it).
NO_PREPROCESS = r"(?![\s\S]*[xX]-[pP][rR][eE]-[pP][rR][oO][cC][eE][sS][sS])"


def _body(regex) -> str:
    """A names.py pattern without its leading `^`."""
    assert regex.pattern.startswith("^") and regex.pattern.endswith("$")
    return regex.pattern[1:]


DOMAIN = "^" + NO_PREPROCESS + _body(names.DOMAIN_RE)
EXTENSION = "^" + NO_PREPROCESS + _body(names.EXTENSION_RE)
# An extension name as the API takes it: not a path word of /extensions/.
_NOT_A_PATH_WORD = r"(?!(?:[iI][mM][pP][oO][rR][tT]|[eE][xX][pP][oO][rR][tT])$)"
EXTENSION_NAME = "^" + NO_PREPROCESS + _NOT_A_PATH_WORD + _body(names.EXTENSION_RE)
SAFE_NAME = "^" + NO_PREPROCESS + _body(names.SAFE_NAME_RE)
TEMPLATE = "^" + NO_PREPROCESS + r"(?=[\s\S]{1,64}$)" + _body(names.SAFE_NAME_RE)
UUID = names.UUID_RE.pattern

# A query filter: no control character at all.
QUERY_TEXT = r"^[^\u0000-\u001f\u007f]*$"
# A directory value: no control character but TAB (app.schemas.section_rules), no preprocessor bait.
VALUE_TEXT = "^" + NO_PREPROCESS + r"[^\u0000-\u0008\u000a-\u001f\u007f]*$"
