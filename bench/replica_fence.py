"""What the replica's fence costs a write: one mirror write (the WRITE script, one extension)
with no replica running, and with 1 and 2 replica processes (workers/replica.py) that the
write waits for. Alternating rounds on a private redis-server; median µs per write.

    python -m bench.run replica-fence [--writes 500] [--rounds 4]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.results import save
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "fence.example"


def start_replica(url: str, tmp: Path, host: str):
    from app.replica import store

    env = dict(os.environ, REDIS_URL=url, FSCTI_DIRECTORY_REPLICA_PATH=str(tmp / host),
               FSCTI_DIRECTORY_REPLICA_HOST=host, LOG_LEVEL="WARNING")
    env.pop("FSCTI_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "workers.replica"], env=env, cwd=ROOT)
    t0 = time.monotonic()
    while not (tmp / host / "data.mdb").exists():
        time.sleep(0.02)
    reader = store.open_reader(str(tmp / host))
    while not store.meta(reader)["trusted"]:
        if time.monotonic() - t0 > 60:
            raise SystemExit("the replica did not start")
        time.sleep(0.02)
    reader.close()
    return proc


def writes(client, n: int) -> float:
    """Median µs of n one-extension writes (each fenced, as the API's are)."""
    from app.mirror.write import write_ops

    took = []
    for i in range(n):
        value = json.dumps({"param": {"password": f"pw-{i}"}, "variable": {}, "attribute": {}})
        t0 = time.perf_counter()
        write_ops(client, DOMAIN, [["U", "1001", value, ""]])
        took.append(time.perf_counter() - t0)
    return statistics.median(took) * 1e6


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench.run replica-fence", description=__doc__.splitlines()[0])
    ap.add_argument("--writes", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from app.mirror.client import make_client

    out = {"writes": args.writes, "rounds": args.rounds, "none": [], "one": [], "two": []}
    with tempfile.TemporaryDirectory(prefix="fscti-fence-") as d, RedisServer(directory=d) as srv:
        tmp = Path(d)
        client = make_client(srv.url, 2.0)
        client.hset("fscti:domains", DOMAIN, "{}")
        for r in range(args.rounds):
            out["none"].append(writes(client, args.writes))
            a = start_replica(srv.url, tmp, "a")
            out["one"].append(writes(client, args.writes))
            b = start_replica(srv.url, tmp, "b")
            out["two"].append(writes(client, args.writes))
            for p in (a, b):
                p.terminate()
                p.wait(30)
            print(f"round {r + 1}: µs per write, no replica {out['none'][-1]:.0f}, one "
                  f"{out['one'][-1]:.0f}, two {out['two'][-1]:.0f}", flush=True)
    for k in ("none", "one", "two"):
        out[f"{k}_median_us"] = round(statistics.median(out[k]), 1)
    print(f"median µs per fenced write: no replica {out['none_median_us']}, one replica "
          f"{out['one_median_us']}, two {out['two_median_us']}", flush=True)
    print(f"results: {save('replica-fence', out, stamped=True, indent=2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
