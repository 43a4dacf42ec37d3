"""Where the benchmarks write their JSON results: var/bench/ (a runtime directory)."""
from __future__ import annotations

import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def save(name: str, result, stamped: bool = False, indent: int = 1) -> Path:
    """Write `result` as var/bench/<name>.json (or <name>-<date-time>.json); return the path."""
    out = ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    path = out / (f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json" if stamped else f"{name}.json")
    path.write_text(json.dumps(result, indent=indent))
    return path
