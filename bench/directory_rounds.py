"""The directory benchmark's rounds: its endpoints alternated on one server, and the ratios.

Each workload runs every endpoint in turn (A B C D E, E D C B A, ...) for `rounds` rounds, so
the slow drifts of a shared machine hit all of them alike; medians of each endpoint, medians of
the per-round ratios to each floor, the same ratios by CPU per request, and the latency ratios.
"""
import statistics

ENDPOINTS = ("floor", "raw-floor", "floor-ping", "via-flask", "directory")
PATHS = {"floor": "/directory/floor", "raw-floor": "/directory/raw-floor",
         "floor-ping": "/directory/floor-ping", "via-flask": "/directory/via-flask",
         "directory": "/directory"}


def measure(run, server, env, rounds: int) -> dict:
    """Alternate the endpoints (A B C D E, E D C B A, ...) `rounds` times, `run(url, pids)` doing one
    load run; medians of each, the medians of the per-round ratios to each floor (adjacent
    runs, so slow drifts of a shared machine cancel), and the same ratios by CPU per request
    (floor's CPU / this one's: above 1 is cheaper than the floor)."""
    urls = {name: server.base + PATHS[name] for name in ENDPOINTS}
    pids = server.pids() + [env.redis.proc.pid]
    for name in ENDPOINTS:  # warm every worker (scripts loaded, caches filled)
        run(urls[name], (), warm=True)
    runs = {name: [] for name in ENDPOINTS}
    for i in range(rounds):
        for name in (ENDPOINTS if i % 2 == 0 else ENDPOINTS[::-1]):
            calls = env.evalsha_calls()
            r = run(urls[name], pids)
            r["redis_lookups_per_request"] = round((env.evalsha_calls() - calls) / r["requests"], 4)
            runs[name].append(r)
    out = {}
    for name, rs in runs.items():
        out[name] = {k: round(statistics.median(r[k] for r in rs), 4)
                     for k in ("rps", "p50", "p99", "server_cpu_us", "client_cpu_us", "redis_lookups_per_request")}
        out[name]["runs"] = rs
    for floor, suffix in (("floor", ""), ("raw-floor", "_raw")):
        for name, key in (("directory", "ratio"), ("floor-ping", "ping_ratio"),
                          ("via-flask", "via_flask_ratio")):
            pairs = list(zip(runs[floor], runs[name]))
            out[key + suffix] = round(statistics.median(d["rps"] / f["rps"] for f, d in pairs), 3)
            f, d = out[floor], out[name]
            out[key.replace("ratio", "cpu_ratio") + suffix] = round(
                (f["server_cpu_us"] + f["client_cpu_us"]) / (d["server_cpu_us"] + d["client_cpu_us"]), 3)
            for p in ("p50", "p99"):  # latency, this one / the floor's: below 1 is faster
                out[f"{key}_{p}{suffix}"] = round(statistics.median(d[p] / f[p] for f, d in pairs), 3)
    pairs = list(zip(runs["via-flask"], runs["directory"]))  # the middleware against its baseline
    out["middleware_gain"] = round(statistics.median(d["rps"] / v["rps"] for v, d in pairs), 3)
    v, d = out["via-flask"], out["directory"]
    out["middleware_cpu_gain"] = round(
        (v["server_cpu_us"] + v["client_cpu_us"]) / (d["server_cpu_us"] + d["client_cpu_us"]), 3)
    return out


def report(label: str, m: dict) -> None:
    for name in ENDPOINTS:
        r = m[name]
        print(f"  {label:9} {name:10} {r['rps']:8.1f} req/s  p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms  "
              f"cpu/req server {r['server_cpu_us']:.0f} us + client {r['client_cpu_us']:.0f} us", flush=True)
    print(f"  {label:9} directory ÷ raw floor: req/s {m['ratio_raw']:.3f}, by CPU per request "
          f"{m['cpu_ratio_raw']:.3f}, p50 x{m['ratio_p50_raw']:.3f}, p99 x{m['ratio_p99_raw']:.3f} | "
          f"÷ Flask floor: req/s {m['ratio']:.3f}, by CPU {m['cpu_ratio']:.3f}, "
          f"p50 x{m['ratio_p50']:.3f}, p99 x{m['ratio_p99']:.3f}", flush=True)
    print(f"  {label:9} one-round-trip ceiling floor-ping ÷ raw floor {m['ping_ratio_raw']:.3f} "
          f"(by CPU {m['ping_cpu_ratio_raw']:.3f}), ÷ Flask floor {m['ping_ratio']:.3f} (by CPU "
          f"{m['ping_cpu_ratio']:.3f}); Flask floor ÷ raw floor {m['floor']['rps'] / m['raw-floor']['rps']:.3f}; "
          f"directory through Flask's route ÷ raw floor {m['via_flask_ratio_raw']:.3f} (by CPU "
          f"{m['via_flask_cpu_ratio_raw']:.3f}, p50 x{m['via_flask_ratio_p50_raw']:.3f}); "
          f"directory ÷ via-flask (the middleware's gain) {m['middleware_gain']:.3f} "
          f"(by CPU {m['middleware_cpu_gain']:.3f}); "
          f"Redis lookups per request {m['directory']['redis_lookups_per_request']:.3f}", flush=True)
