"""Proving that a call is bounded (returns instead of hanging) without timing it.

Tests don't time things (benchmarks do): a wall-clock bound close to the configured timeout
fails on a busy machine. What a test can prove is that the call comes back at all: run it in
a thread and give it a limit far above any timeout under test.
"""
from __future__ import annotations

import threading

HANG = 20.0     # seconds: a call still running after this hangs (every timeout under test is far below)


def returns_within(fn, limit: float = HANG):
    """Call fn() in a thread; return its value or raise its exception, or fail the test if it
    is still running after `limit` seconds."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller as is
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True, name="returns-within")
    t.start()
    t.join(limit)
    if t.is_alive():
        raise AssertionError(f"{getattr(fn, '__name__', fn)} still running after {limit:g}s: it hangs")
    if "error" in box:
        raise box["error"]
    return box.get("value")
