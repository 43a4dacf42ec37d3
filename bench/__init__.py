"""Benchmarks (`make bench` → `python -m bench.run`). They time things; tests never do."""
