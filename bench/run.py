"""Run the benchmarks: `python -m bench.run [NAME] [ARGS...]` (`make bench BENCH_ARGS=...`).

Without NAME every benchmark runs with its defaults; with NAME the remaining ARGS go to it.
Each benchmark module has `main(argv) -> int`.
"""
import importlib
import sys

BENCHES = {
    "directory": "bench.directory",
    "directory-inproc": "bench.directory_inproc",
    "replica-fence": "bench.replica_fence",
    "replica-memory": "bench.replica_memory",
    "events": "bench.events",
    "actions": "bench.actions",
    "redis_loss": "bench.redis_loss",
    "metrics": "bench.metrics_overhead",
    "console-feed": "bench.console_feed",
    "console": "bench.console",
    "cluster": "bench.cluster",
    "resync": "bench.resync",
}


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        print("benchmarks:", ", ".join(BENCHES))
        return 0
    if argv and argv[0] in BENCHES:
        return importlib.import_module(BENCHES[argv[0]]).main(argv[1:])
    if argv and not argv[0].startswith("-"):
        print(f"unknown benchmark {argv[0]!r}; known: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    status = 0
    for name, module in BENCHES.items():
        print(f"== {name}", flush=True)
        status |= importlib.import_module(module).main(argv)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
