"""gunicorn's access log with every request-derived value escaped (Procfile `web`).

gunicorn writes its atoms as they came: `%(U)s` is the *decoded* path, so
`GET /healthz%0a127.0.0.1%20-%20-%20FORGED` would write a second, forged line; it only
backslashes double quotes, leaving NUL, CR, LF and the backslash itself. Here every text atom
(path, query, request line, user, user agent, referer, `{header}i`, `{header}o`,
`{variable}e`, the client address a trusted proxy named) goes through app.logs.escape. Atoms
gunicorn computes itself (times, status, sizes) pass unchanged: escaping them is a no-op.

Installed by the gunicorn config module app/runtime.py (`logger_class`).
"""
from gunicorn.glogging import Logger, SafeAtoms

from app.logs import escape


class EscapedAtoms(SafeAtoms):
    """gunicorn's atom map (case-insensitive headers, '-' for missing ones), values escaped
    when the format reads them (a dozen of the ~60 atoms, so the rest costs nothing)."""

    def __init__(self, atoms):
        dict.__init__(self, atoms)

    def __getitem__(self, key):
        value = super().__getitem__(key)
        return escape(value) if isinstance(value, str) else value


class EscapingLogger(Logger):
    """gunicorn's Logger with EscapedAtoms for the access log."""

    atoms_wrapper_class = EscapedAtoms
