"""Memory per host of the directory replica (issue 11: at most 500 MB at 1M extensions).

A private redis-server holds the mirror of N extensions (one domain, one in ten with a
number-alias), loaded as bench.directory loads it: SQL by bulk insert, then the real
`flask mirror rebuild`. The Procfile's `replica` process (bench.replica_run) fills its file from
it; reported: the fill's seconds (the file's `Mfilled`), the seconds from process start until
the file is trusted, the file's allocated size (st_blocks of data.mdb: in the page cache once per
host, mapped by every web worker), the replica process's own memory after the fill (USS and PSS
without the file's pages) and its peak (VmHWM, which counts the file pages it touched, and the
anonymous memory sampled while it filled), and Redis's used_memory for scale. With --refill on,
the process is restarted once on the same file (a full fill into a file that already holds
everything). Per host: the file plus the replica's own memory; results to var/bench/.

    python -m bench.run replica-memory [--extensions 1000000] [--refill on|off] [--settle 2]
                                       [--database-url URL]
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.directory import Env, load, loadavg, machine
from bench.replica_run import ReplicaRun
from bench.results import save

TARGET_MB = 500


def measure(env: Env, settle: float) -> dict:
    """Start the replica, wait until trusted, let it follow the feed for `settle` s, measure."""
    replica = ReplicaRun(env)
    try:
        time.sleep(settle)
        return {"fill_seconds": replica.meta["fill_seconds"],
                "ready_seconds": round(replica.ready_seconds, 1), **replica.memory()}
    finally:
        replica.close()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench.run replica-memory", description=__doc__.splitlines()[0])
    ap.add_argument("--extensions", type=int, default=1_000_000)
    ap.add_argument("--refill", choices=("on", "off"), default="on",
                    help="restart the replica once on its filled file and measure again")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds after trust before measuring")
    ap.add_argument("--database-url", help="SQL database to load (default: a temporary SQLite file)")
    args = ap.parse_args(argv)
    result = {"machine": machine(), "extensions": args.extensions, "loadavg_before": loadavg(), "runs": {}}
    print(json.dumps(result["machine"]), flush=True)
    with tempfile.TemporaryDirectory(prefix="fscti-bench-") as d:
        env = Env(Path(d), args.database_url, cache="on", replica="on")
        try:
            result["machine"]["redis"] = env.client.info("server").get("redis_version")
            env.flask("db", "upgrade")
            result["load_seconds"] = round(load(env, 0, args.extensions), 1)
            t0 = time.monotonic()
            env.flask("mirror", "rebuild")
            result["rebuild_seconds"] = round(time.monotonic() - t0, 1)
            result["redis_used_memory_mb"] = round(env.client.info("memory")["used_memory"] / 2**20, 1)
            print(f"{args.extensions} extensions: SQL load {result['load_seconds']} s, mirror rebuild "
                  f"{result['rebuild_seconds']} s, Redis used_memory {result['redis_used_memory_mb']} MB",
                  flush=True)
            for run in ("fresh", "refill") if args.refill == "on" else ("fresh",):
                m = result["runs"][run] = measure(env, args.settle)
                m["loadavg"] = loadavg()
                print(f"{run}: filled in {m['fill_seconds']:.1f} s (trusted after {m['ready_seconds']} s), "
                      f"file {m['file_mb']} MB, replica own {m['replica_uss_mb']} MB (PSS "
                      f"{m['replica_pss_mb']}), peak anonymous while filling {m['replica_fill_peak_anon_mb']} "
                      f"MB, VmHWM {m['replica_hwm_mb']} MB, load average {m['loadavg']}", flush=True)
        finally:
            env.close()
    fresh = result["runs"]["fresh"]
    result["per_host_mb"] = round(fresh["file_mb"] + fresh["replica_uss_mb"], 1)
    result["per_host_peak_mb"] = round(fresh["file_mb"] + fresh["replica_fill_peak_anon_mb"], 1)
    result["loadavg_after"] = loadavg()
    met = "met" if result["per_host_peak_mb"] <= TARGET_MB else "not met"
    print(f"per host: {result['per_host_mb']} MB (file + replica's own), "
          f"{result['per_host_peak_mb']} MB at the fill's peak; target <= {TARGET_MB} MB: {met}", flush=True)
    print(f"results: {save('replica-memory', result, stamped=True, indent=2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
