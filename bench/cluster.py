"""Multi-node benchmark: 4 FreeSWITCH nodes x 10,000 phones, 50 calls/s, 2 listeners, 2 workers.

Wire-level peers (tests/eslpeer) play the nodes: every phone registers, then refreshes every
`--refresh` s (spread evenly), and calls (the captured call 1, both legs) start at `--cps`
per second in all, spread over the nodes, each lasting `--call-seconds`. Every event goes
through the peer's own tables (tests/eslpeer/tables.py), which also answer the resyncs.
Two real listener processes split the nodes by their leases (2 + 2); one Celery worker
with `--workers` prefork processes applies the batches; a private redis-server holds the
state (db 0) and the broker (db 1).

Reported: events/s sent (registrations + calls); state lag of the channel events, event time
(Event-Date-Timestamp, stamped as the peer renders it) to the first poll (every 2 ms) where
the node's newest applied stamp (`fscti:node:<n>` cst) reached it, p50/p95/p99/max;
exactness at the end (the load stopped, calls in progress left up): every node's state equals
its peer's tables (registrations and live calls), and how long that took to settle; CPU per
process group.

    python -m bench.run cluster [--phones 10000] [--nodes 4] [--cps 50] [--refresh 60]
                                [--seconds 60] [--listeners 2] [--workers 2] [--keep]
                                [--resync-at S] [--redis-nice N]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.events import ROOT, Applied, Cpu, calibrate, percentile, start, stop
from bench.results import save

DOMAIN = "127.0.0.1"


def run(args) -> dict:
    sys.path.insert(0, str(ROOT))
    from app import tasknames
    from app.state import keys, lease
    from tests.eslpeer import EslPeer
    from tests.eslpeer.load import NodeLoad
    from tests.eslpeer.synthetic import SyntheticCalls
    from tests.eslpeer.tables import PeerTables, state_view
    from tests.support.redis_server import RedisServer
    from tests.eslpeer.procs import procfile_args

    tmp = Path(tempfile.mkdtemp(prefix="fscti-bench-cluster-"))
    redis = RedisServer(directory=tmp).start()
    client = redis.client(decode_responses=True)
    if args.redis_nice is not None:
        # Redis given a larger share of a busy host's cores, as its own host would give it
        # (os.setpriority: a negative value needs root or CAP_SYS_NICE)
        os.setpriority(os.PRIO_PROCESS, redis.proc.pid, args.redis_nice)
    names = [f"fs{i + 1}" for i in range(args.nodes)]
    peers = {n: EslPeer(core_uuid=str(uuid.uuid4()), record=False).start() for n in names}
    procs: list = []
    result: dict = {k: getattr(args, k) for k in ("phones", "nodes", "cps", "refresh", "seconds",
                                                  "listeners", "workers", "pool", "call_seconds",
                                                  "batch_delay_ms", "batch_min_interval_ms", "resync_at",
                                                  "redis_nice", "prefetch_multiplier")}
    result["load_average_before"] = os.getloadavg()
    try:
        tables = {n: PeerTables(p, n, DOMAIN) for n, p in peers.items()}
        cfg = {"freeswitch": [{"name": n, "host": p.host, "port": p.port, "password": p.password}
                              for n, p in peers.items()],
               "state": {"resync_interval": 3600}}
        (tmp / "cti.json").write_text(json.dumps(cfg))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FSCTI_", "FREESWITCH_"))}
        env.update({"DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "REDIS_URL": redis.url_for(0),
                    "CELERY_BROKER_URL": redis.url_for(1), "CELERY_RESULT_BACKEND": redis.url_for(1),
                    "FSCTI_CONFIG": str(tmp / "cti.json"), "LOG_LEVEL": "WARNING",
                    "PYTHONUNBUFFERED": "1"})
        if args.batch_delay_ms is not None:
            env["FSCTI_LISTENER_BATCH_DELAY_MS"] = str(args.batch_delay_ms)
        if args.batch_min_interval_ms is not None:
            env["FSCTI_LISTENER_BATCH_MIN_INTERVAL_MS"] = str(args.batch_min_interval_ms)
        py = sys.executable
        # ingest: --workers copies of the Procfile's `ingest` line (one process each, solo
        # pool), as production runs them; prefork: one worker with --workers processes (the
        # shape before the `ingest` line, for comparison)
        for w in range(1 if args.pool == "prefork" else args.workers):
            if args.pool == "prefork":
                cmd = ["celery", "-A", "workers.celery_app", "worker", "-Q", "events", "-P",
                       "prefork", "-c", str(args.workers), "--loglevel", "INFO",
                       "--without-gossip", "--without-mingle"]
            else:
                cmd = procfile_args("ingest")
            cmd = [py, "-m"] + [a for a in cmd if not a.endswith("@%h")]
            if "-n" in cmd:
                cmd.remove("-n")
            if args.prefetch_multiplier is not None:
                cmd += ["--prefetch-multiplier", str(args.prefetch_multiplier)]
            procs.append(start(cmd + ["-n", f"bench-{os.getpid()}-{w}@%h"], env,
                               tmp / f"worker-{w}.log"))
        n_workers = len(procs)
        for i in range(args.listeners):
            procs.append(start([py, "-m", "workers.listener"], env, tmp / f"listener-{i}.log"))

        def balanced():
            held = [(lease.holder(client, n) or {}).get("owner") for n in names]
            counts = sorted(held.count(o) for o in set(held))
            share = -(-args.nodes // args.listeners)
            return (None not in held and len(set(held)) == min(args.listeners, args.nodes)
                    and max(counts) <= share
                    and all(len(p.subscribers()) == 1 for p in peers.values())
                    and all(resynced_by_owner(n) for n in names))

        def resynced_by_owner(n):
            # each node resynced by its current owner, and a taken node (token > 1) its
            # second, settling resync too (`takeover`, ~6 s after it took the node): a
            # resync of a loaded node must not fall inside the window unless asked for
            token = (lease.holder(client, n) or {}).get("token")
            done = client.hmget(keys.node(n), "resync_token", "resync_reason")
            return (int(done[0] or -1) == token
                    and (token == 1 or done[1] == "takeover"))
        wait(balanced, 60, "the listeners to split the nodes (and resync them)", tmp)
        result["owners"] = {n: (lease.holder(client, n) or {}).get("owner") for n in names}

        gen = SyntheticCalls()
        per_node_cps = args.cps / args.nodes
        loads = {n: NodeLoad(tables[n], [f"{i + 1}{j:05d}" for j in range(args.phones)],
                             refresh=args.refresh, cps=per_node_cps, call_seconds=args.call_seconds,
                             seed=i, gen=gen) for i, n in enumerate(names)}
        t0 = time.time()
        for ld in loads.values():
            ld.register_all()
        want = args.phones * args.nodes
        wait(lambda: sum(len(state_view(client, n, DOMAIN)["registrations"]) for n in names) >= want,
             300, "every phone registered", tmp, interval=1.0)
        result["register_all_s"] = round(time.time() - t0, 1)
        appliers = {n: Applied(client, n) for n in names}
        for a in appliers.values():
            a.interval = 0.002
            a.thread.start()
        gc.collect()
        gc.freeze()
        for t in tables.values():
            t.sent = []
        events_before = sum(t.events for t in tables.values())
        parts = {"redis": ("pid", redis.proc.pid), "peers+bench": ("self", None)}
        cpu = Cpu(parts)
        cpu_w = [Cpu({"w": ("group", p.pid)}) for p in procs[:n_workers]]
        cpu_l = [Cpu({"l": ("group", p.pid)}) for p in procs[n_workers:]]
        calib = calibrate()
        client.config_set("slowlog-log-slower-than", 5000)  # µs: what stalls every node at once
        client.config_set("slowlog-max-len", 100000)
        client.slowlog_reset()
        cpu.start()
        for c in cpu_w + cpu_l:
            c.start()
        started = time.time()
        for ld in loads.values():
            ld.start()
        end = time.time() + args.seconds
        resync_at = started + args.resync_at if args.resync_at is not None else None
        while time.time() < end:
            time.sleep(1.0)
            if resync_at is not None and time.time() >= resync_at:
                resync_at = None      # as the beat's periodic resync asks for it
                celery_app(redis.url_for(1)).send_task(
                    tasknames.STATE_RESYNC, args=[names[0], "periodic", None], queue="events")
                result["resync_sent_at_s"] = round(time.time() - started, 1)
            if args.verbose:
                now = time.time()
                ages = {n: round(now - int((client.hget(keys.node(n), "cst") or "0")[:16]) / 1e6, 2)
                        for n in names}
                print(f"t+{now - started:.0f}s: newest applied event age per node {ages}; "
                      f"broker queue {redis.client(db=1).llen('events')}", flush=True)
        for ld in loads.values():
            ld.stop()
        elapsed = time.time() - started
        sent_events = sum(t.events for t in tables.values()) - events_before
        # every channel event applied (or the lag run failed)
        for n in names:
            if tables[n].sent and appliers[n].wait_for(max(tables[n].sent), 60) is None:
                raise RuntimeError(f"{n}: the last call events were not applied: see {tmp}")
        cpu_s = cpu.stop()
        # Redis commands of 5 ms or more while the load ran (before the exactness checks'
        # own HGETALLs): a slow script stalls every node at once
        slow = [{"at_s": e["start_time"] - int(started), "ms": round(e["duration"] / 1000, 1),
                 "command": e["command"][:40].decode(errors="replace")}
                for e in client.slowlog_get(100000)]
        cpu_s["worker"] = round(sum(c.stop()["w"] for c in cpu_w), 2)
        cpu_s["listeners"] = round(sum(c.stop()["l"] for c in cpu_l), 2)
        lags = []
        for n in names:
            lags += appliers[n].lags_ms(tables[n].sent)
            appliers[n].stop_flag.set()
        t_settle = time.time()
        exact = False
        while time.time() - t_settle < args.settle:
            if all(state_view(client, n, DOMAIN) == tables[n].expected() for n in names):
                exact = True
                break
            time.sleep(1.0)
        diff = {}
        if not exact:
            for n in names:
                want, got = tables[n].expected(), state_view(client, n, DOMAIN)
                diff[n] = {part: sum(1 for k in set(want[part]) | set(got[part])
                                     if want[part].get(k) != got[part].get(k)) for part in want}
        result.update({
            "calibration_ms": calib,
            "events": sent_events, "seconds": round(elapsed, 1),
            "events_per_s": round(sent_events / elapsed),
            "calls_started": sum(ld.calls_started for ld in loads.values()),
            "live_calls_at_end": sum(len(t.expected()["channels"]) for t in tables.values()) // 2,
            "registrations": sum(len(t.regs) for t in tables.values()),
            "lag": {"events": len(lags), "p50_ms": round(statistics.median(lags), 1),
                    "p95_ms": round(percentile(lags, 95), 1),
                    "p99_ms": round(percentile(lags, 99), 1), "max_ms": round(max(lags), 1)},
            "exact": exact, "settle_s": round(time.time() - t_settle, 1), "diff": diff,
            "cpu_s": cpu_s, "redis_slow": {"count": len(slow),
                                           "worst": sorted(slow, key=lambda e: -e["ms"])[:5]},
            "cpu_share": {k: round(v / elapsed, 2) for k, v in cpu_s.items()},
        })
        stats = client.info("commandstats")
        top = sorted(stats.items(), key=lambda kv: -kv[1]["usec"])[:5]
        result["redis_commands"] = {k.replace("cmdstat_", ""): {"calls": v["calls"], "usec": v["usec"]}
                                    for k, v in top}
    finally:
        for p in reversed(procs):
            stop(p)
        for p in peers.values():
            p.close()
        redis.close()
        if args.keep:
            result["tmp"] = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def celery_app(broker: str):
    """A Celery client of the benchmark's broker, to queue a task as the beat would."""
    from celery import Celery
    return Celery("bench", broker=broker)


def wait(predicate, timeout: float, what: str, tmp: Path, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}: logs in {tmp}")
        time.sleep(interval)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bench.run cluster", description=__doc__.split("\n")[0])
    p.add_argument("--phones", type=int, default=10000, help="registered phones per node")
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--cps", type=float, default=50.0, help="calls started per second, all nodes")
    p.add_argument("--refresh", type=float, default=60.0, help="s between a phone's registrations")
    p.add_argument("--call-seconds", type=float, default=3.0, help="s from a call's first event to its last")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the measured run")
    p.add_argument("--listeners", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    p.add_argument("--pool", choices=("ingest", "prefork"), default="ingest",
                   help="ingest: --workers copies of the Procfile's `ingest` process (solo "
                        "pool); prefork: one worker with --workers prefork processes")
    p.add_argument("--batch-delay-ms", type=float, default=None, help="listener batch_delay_ms")
    p.add_argument("--batch-min-interval-ms", type=float, default=None,
                   help="listener batch_min_interval_ms (default: the setting's, 25; 0: no limit)")
    p.add_argument("--resync-at", type=float, default=None, metavar="S",
                   help="S s into the load, queue a periodic resync of the first node (what "
                        "the beat does every state.resync_interval)")
    p.add_argument("--prefetch-multiplier", type=int, default=None, metavar="N",
                   help="the workers' --prefetch-multiplier (default: the Procfile's line)")
    p.add_argument("--redis-nice", type=int, default=None, metavar="N",
                   help="run the private redis-server at nice N (e.g. -10: ahead of the "
                        "benchmark's other processes on a 2-core host; needs root for N < 0)")
    p.add_argument("--settle", type=float, default=60.0, help="s to wait for the exact state")
    p.add_argument("--keep", action="store_true", help="keep the logs (temp dir)")
    p.add_argument("--verbose", action="store_true", help="every second: the newest applied "
                   "event's age per node and the broker's queue length")
    args = p.parse_args(argv)
    result = run(args)
    save("cluster", result)
    lag = result["lag"]
    print(f"{args.nodes} nodes x {args.phones} phones (refresh {args.refresh:g} s), {args.cps:g} "
          f"calls/s, {args.listeners} listeners, {args.workers} worker processes: "
          f"{result['events_per_s']} events/s for {result['seconds']} s "
          f"({result['events']} events, {result['calls_started']} calls)")
    print(f"state lag (channel events, event time -> applied): p50 {lag['p50_ms']} ms, "
          f"p95 {lag['p95_ms']} ms, p99 {lag['p99_ms']} ms, max {lag['max_ms']} ms "
          f"({lag['events']} events)")
    print(f"exact at the end: {result['exact']} (after {result['settle_s']} s; "
          f"{result['registrations']} registrations, {result['live_calls_at_end']} calls up) "
          f"{result['diff'] or ''}")
    slow = result["redis_slow"]
    print(f"Redis commands >= 5 ms during the load: {slow['count']}; slowest "
          f"{[(e['ms'], e['command'][:20]) for e in slow['worst'][:3]]}")
    print(f"CPU share (cores): {result['cpu_share']}; calibration {result['calibration_ms']} ms")
    ok = result["exact"] and lag["p99_ms"] <= 100
    print("target (exact, lag p99 <= 100 ms):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
