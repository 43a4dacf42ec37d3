"""The cti.json-style config file (JSON with `//` and `/* */` comments) and ConfigError."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


def strip_json_comments(text: str) -> str:
    """Remove // and /* */ comments outside JSON strings."""
    out, i, n = [], 0, len(text)
    in_str = False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_str = False
            i += 1
        elif c == '"':
            in_str = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise ConfigError("unterminated /* comment in config file")
            i = j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load_config_file(path: str | os.PathLike) -> dict:
    """Read a cti.json-style file (JSON with comments)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"FSCTI_CONFIG: cannot read {path}: {exc.strerror}") from exc
    try:
        data = json.loads(strip_json_comments(text))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"FSCTI_CONFIG: {path} line {exc.lineno}: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"FSCTI_CONFIG: {path} must hold a JSON object")
    return data


def section(value, name: str) -> dict:
    """A config section as a dict: absent (or null) is empty, anything but an object is refused."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: must be an object")
    return dict(value)


def number(value, name: str, low: float, high: float, whole: bool = False) -> float | int:
    """A number from the file (a JSON number) or the environment (text), within [low, high];
    low = 0 is exclusive (a timeout or a size of zero is never meant)."""
    if isinstance(value, bool):
        raise ConfigError(f"{name}: must be a number")
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: not a number") from None
    in_range = math.isfinite(result) and (low < result if low == 0 else low <= result) \
        and result <= high
    if not in_range:
        span = f"> 0 and <= {high:g}" if low == 0 else f"between {low:g} and {high:g}"
        raise ConfigError(f"{name}: must be {span}")
    if whole and result != int(result):
        raise ConfigError(f"{name}: must be a whole number")
    return int(result) if whole else result
