"""app.logs: what a request sent cannot start a log line of its own, nor garble one."""
import io
import logging

import pytest

from app.logs import FORMAT, LineFormatter, escape

FORGED = "x\n2026-11-27 10:00:00,000 INFO fscti: FORGED"


@pytest.mark.parametrize("raw, logged", [
    ("plain 10.0.0.1 user@pbx.example.com", "plain 10.0.0.1 user@pbx.example.com"),
    ("a\nb\rc\x00d", "a\\x0ab\\x0dc\\x00d"),
    ('say "hi"', "say \\x22hi\\x22"),
    ("back\\x0a", "back\\x5cx0a"),              # a literal backslash cannot fake an escape
    ("\t\x1b[2J\x7f", "\\x09\\x1b[2J\\x7f"),    # a terminal escape sequence is inert
    ("nel\x85 csi\x9b", "nel\\x85 csi\\x9b"),   # C1 controls (NEL breaks lines for some readers)
    ("ls\u2028ps\u2029", "ls\\u2028ps\\u2029"),
    ("bidi\u202egnp.exe", "bidi\\u202egnp.exe"),  # a right-to-left override reorders text
    ("é ÿ 中", "é ÿ 中"),                        # printable text is kept
    (None, "None"), (42, "42"),
])
def test_escape(raw, logged):
    assert escape(raw) == logged


def test_every_character_that_can_break_or_fake_a_line_is_escaped():
    everything = "".join(map(chr, range(0x3000))) + "\U0010ffff"
    out = escape(everything)
    assert out.isprintable() and '"' not in out and len(out.splitlines()) == 1
    # and reversible: every backslash starts an escape
    assert out.encode("ascii", "backslashreplace").decode("unicode_escape") == everything


def _emit(formatter, message, *args, exc=None):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("fscti.test-logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        if exc is not None:
            try:
                raise exc
            except type(exc):
                logger.exception(message, *args)
        else:
            logger.warning(message, *args)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


def test_the_formatter_keeps_a_record_on_one_line_whatever_its_arguments_hold():
    text = _emit(LineFormatter(FORMAT), "/cli: invalid key from %s", FORGED)
    assert text.count("\n") == 1 and text.endswith("\\x0a2026-11-27 10:00:00,000 INFO fscti: "
                                                   "FORGED\n")
    # A stock Formatter would have written the forged record as a line of its own.
    assert "\nFORGED" not in text
    assert "\n2026-11-27" in _emit(logging.Formatter(FORMAT), "from %s", FORGED)


def test_traceback_lines_are_indented_so_only_a_record_starts_at_column_0():
    text = _emit(LineFormatter(FORMAT), "directory: cannot answer %s", "1001",
                 exc=ValueError(FORGED + "\rrewound"))
    first, *rest = text.rstrip("\n").split("\n")
    assert "directory: cannot answer 1001" in first and rest
    assert all(line.startswith("    ") for line in rest), rest
    assert "\r" not in text and "Traceback (most recent call last):" in rest[0]
