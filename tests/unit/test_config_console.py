"""The `console` section: defaults, ranges, the environment, unknown keys."""
import pytest

from app.config.console import DEFAULT_CONSOLE, console_section
from app.config.file import ConfigError


def test_defaults():
    assert console_section(None, {}) == DEFAULT_CONSOLE


def test_values_and_env():
    got = console_section({"session_lifetime": 600, "repaint_ms": 100, "feed": False},
                          {"FSCTI_CONSOLE_SESSION_LIFETIME": "3600"})
    assert got["session_lifetime"] == 3600 and got["repaint_ms"] == 100 and got["feed"] is False


@pytest.mark.parametrize("bad, where", [
    ({"session_lifetime": 10}, "console.session_lifetime"),
    ({"session_lifetime": 1.5e9}, "console.session_lifetime"),
    ({"repaint_ms": "fast"}, "console.repaint_ms"),
    ({"max_extensions": 0}, "console.max_extensions"),
    ({"feed": "yes"}, "console.feed"),
    ({"colour": "red"}, "console.colour"),
])
def test_refused(bad, where):
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        console_section(bad, {})
