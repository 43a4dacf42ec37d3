"""One log record, one line, whatever a request sent.

Text from requests reaches log lines: gunicorn's access log (path, query, user agent, ...)
and the app's own lines (client addresses, names, form fields). A CR or LF in it would end
the line and let the sender write a forged one (`GET /healthz%0a127.0.0.1 - - FORGED`); NUL
and other control characters garble what tools read. `escape()` is the one helper every
request-derived value goes through before it is logged: every character Python does not call
printable (C0 and C1 controls, DEL, U+2028/U+2029 which some readers break lines on, bidi
overrides that reorder what a reader sees, unassigned code points), backslash and double quote
become `\\xNN` (`\\uNNNN`, `\\UNNNNNNNN` above 0xFF). Readable, reversible (a literal
backslash is escaped too, so `\\x0a` in a log always means an escaped byte), and a quoted field
stays one field.

`LineFormatter` is the backstop for the processes whose logging `configure()` sets up (web,
listener, the Flask CLI): a control character left in a message is escaped, and the lines
of a traceback are indented, so only a new record starts a line at column 0.
"""
from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONTINUATION = "\n    "
QUOTES = '"\\'


def _code(char: str) -> str:
    n = ord(char)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def _escaped(text: str, also: str) -> str:
    return "".join(_code(c) if c in also or not c.isprintable() else c for c in text)


def escape(value) -> str:
    """`value` as text safe inside one log line (and inside a "quoted" log field)."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text  # the common case, checked at C speed
    return _escaped(text, QUOTES)


class LineFormatter(logging.Formatter):
    """A Formatter whose records cannot start a line that looks like another record."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        if not record.message.isprintable():
            # `\` and `"` are left alone: they may be an escape() already applied.
            record.message = _escaped(record.message, "")
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if "\n" not in text:
            return text
        # Only the traceback (or stack) can hold newlines now; CR would rewind the line.
        head, _, tail = text.partition("\n")
        tail = tail.replace("\r", "\\x0d")
        return head + CONTINUATION + tail.replace("\n", CONTINUATION)


def configure(level: str) -> None:
    """The root logger of this process: stderr, LineFormatter (no-op if already set up)."""
    handler = logging.StreamHandler()
    handler.setFormatter(LineFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
