"""Event pipeline benchmark: FreeSWITCH → listener → Celery → live state in Redis, end to end.

The wire-level peer (tests/eslpeer) plays FreeSWITCH: synthetic calls built from the captured
call 1 (15 subscribed events a call: both legs, CREATE ... DESTROY). The real listener process
reads them and enqueues `fscti.ingest.events`; a real Celery worker (prefork) applies them.
A private redis-server (tests.support.redis_server) holds the state (db 0) and the broker (db 1).

"State in Redis" is observed through the node's Core-UUID stamp (`fscti:node:<n>` `cst`):
the newest (Event-Date-Timestamp, Event-Sequence) applied. The peer stamps each event with
the moment it renders it, and sequences only grow, so an event is in Redis at the first poll
(every 0.5 ms in the lag run, 5 ms in the throughput runs) where that stamp reached its own.

- throughput: N calls as fast as the pipeline takes them, --repeat times (the median run is
  reported and judged): the run's frames are rendered before its clock starts and queued in
  chunks (the peer stands in for FreeSWITCH, which has its own machine in production); the
  listener's socket fills and the peer waits on it; events/s = events / (first queued →
  last applied). Each run records a CPU calibration (ms for a fixed Python loop) beside it,
  and events/s divided by the calibration's speed (events per calibration loop = events/s x
  calibration ms / 1000), which compares across hosts of different speed.
- lag: calls paced at --rate events/s for --seconds, each event rendered as it is sent;
  per-event lag p50/p95/p99/max and the 10 slowest.

    python -m bench.run events [--calls 4000] [--repeat 3] [--rate 1000] [--seconds 10]
                               [--workers 2] [--batch-size 500] [--live-render] [--keep]
"""
from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from bench.results import save

ROOT = Path(__file__).resolve().parent.parent
NODE = "fs1"
TS_KEY = b'"Event-Date-Timestamp":"'


def start(cmd: list[str], env: dict, log: Path, pass_fds=()) -> subprocess.Popen:
    """Start a process in its own session, output to `log` (inheriting `pass_fds`)."""
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, pass_fds=pass_fds)


def stop(proc: subprocess.Popen) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


class Applied:
    """Polls the node's newest applied stamp; answers 'when was time T first in Redis?'."""

    def __init__(self, client, node: str):
        from app.state import keys

        self.client, self.key = client, keys.node(node)
        self.samples: list[tuple[int, float]] = []      # (event ts µs, first seen at)
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        # s between polls: 0.5 ms where each event's lag counts; the throughput runs only
        # need their last event's moment and poll every 5 ms (a 0.1 % error on a 5 s run),
        # so the poller takes less of the CPU the pipeline is measured on.
        self.interval = 0.0005

    def _run(self) -> None:
        last = 0
        while not self.stop_flag.is_set():
            cst = self.client.hget(self.key, "cst")
            now = time.time()
            if cst:
                ts = int(cst[:16])
                if ts > last:
                    self.samples.append((ts, now))
                    last = ts
            time.sleep(self.interval)

    def latest(self) -> int:
        return self.samples[-1][0] if self.samples else 0

    def wait_for(self, ts: int, timeout: float, broker=None) -> float | None:
        """When the event of time `ts` was applied; with several workers (batches may finish
        out of order) also wait until the broker has no queued or unacknowledged task, and
        count the finish from then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.samples and self.samples[-1][0] >= ts:
                seen = next(s for tt, s in self.samples if tt >= ts)
                if broker is None:
                    return seen
                if broker.llen("events") == 0 and broker.hlen("unacked") == 0:
                    return max(seen, time.time() - 0.001)
            time.sleep(0.001)
        return None

    def lags_ms(self, sent: list[int]) -> list[float]:
        """Per sent event (its ts µs): first time the applied stamp reached it, minus ts."""
        out, j = [], 0
        for ts in sorted(sent):
            while j < len(self.samples) and self.samples[j][0] < ts:
                j += 1
            if j == len(self.samples):
                break
            out.append(max(0.0, (self.samples[j][1] - ts / 1e6) * 1000))
        return out


EXTENSIONS = [(f"{2000 + i}", f"{4000 + i}") for i in range(1000)]


def register_all(peer) -> int:
    """Every extension of the synthetic calls registers (as phones do): sofia::register events
    shaped like the captured one; returns the last one's timestamp."""
    from tests.eslpeer import wire_events

    template = next(w.event for w in wire_events() if w.event.get("Event-Subclass") == "sofia::register")
    last = 0
    for pair in EXTENSIONS:
        for ext in pair:
            event = dict(template)
            for key in ("from-user", "to-user", "username", "user_name", "number_alias",
                        "sip_number_alias", "sip_auth_username", "effective_caller_id_number"):
                if key in event:
                    event[key] = ext
            now = int(time.time() * 1_000_000)
            event.update({"call-id": f"bench-{ext}@127.0.0.1", "expires": "3600",
                          "contact": f'"" <sip:{ext}@127.0.0.1:5090>',
                          "Event-Date-Timestamp": str(now)})
            peer.emit(event, stamp=True, block=True)
            last = now
    return last


def call_bodies(peer, gen, calls: int, rate: float | None, concurrency: int = 50):
    """Yield (template, event body) of `calls` synthetic calls, `concurrency` interleaved (as
    SyntheticCalls.run), subscribed events only; with `rate` (events/s) paced."""
    active, started = [], 0
    interval = 1.0 / rate if rate else 0.0
    next_at = time.perf_counter()
    exts = itertools.cycle(EXTENSIONS)
    while started < calls or active:
        while started < calls and len(active) < concurrency:
            a, b = next(exts)
            active.append([gen._values(started, a, b), int(time.time() * 1_000_000), 0])
            started += 1
        for call in list(active):
            values, base, idx = call
            tpl = gen.templates[idx]
            call[2] += 1
            if call[2] >= len(gen.templates):
                active.remove(call)
            if not peer.wants(tpl.name, tpl.subclass):
                continue
            if interval:
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            yield tpl, gen.render(tpl, values, base, next(peer.sequence), peer.core_uuid)


def stamp_of(body: bytes) -> int:
    i = body.index(TS_KEY) + len(TS_KEY)
    return int(body[i:i + 16])


def emit_calls(peer, gen, calls: int, rate: float | None, concurrency: int = 50) -> list[int]:
    """Render and emit calls one event at a time (each stamped as it is rendered, just before
    it is sent); returns every sent event's timestamp (µs)."""
    sent: list[int] = []
    for tpl, body in call_bodies(peer, gen, calls, rate, concurrency):
        sent.append(stamp_of(body))
        peer.emit_frame(tpl.name, tpl.subclass, body, block=True)
    return sent


def render_calls(peer, gen, calls: int) -> tuple[list[bytes], list[int]]:
    """The frames of `calls` calls rendered ahead (the throughput run), with their stamps."""
    from tests.eslpeer import wire

    frames, sent = [], []
    for _tpl, body in call_bodies(peer, gen, calls, None):
        sent.append(stamp_of(body))
        frames.append(wire.json_event_frame(body))
    return frames, sent


def send_frames(peer, frames: list[bytes], chunk: int) -> None:
    """Queue pre-rendered frames to every JSON subscriber, `chunk` frames per queued write
    (FreeSWITCH writes them one by one; TCP cuts the stream into segments of its own anyway)."""
    conns = [c for c in peer.open_connections() if c.format == "json" and not c.filters]
    for i in range(0, len(frames), chunk):
        data = b"".join(frames[i:i + chunk])
        for conn in conns:
            conn.push_event(data, block=True)


def cpu_seconds(pgid: int | None = None, pid: int | None = None) -> float:
    """User + system CPU of one process, or of every live process of a group (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in ([str(pid)] if pid else os.listdir("/proc")):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if pid or int(fields[2]) == pgid:        # field 5: pgrp
            total += int(fields[11]) + int(fields[12])   # fields 14, 15: utime, stime
    return total / tick


class Cpu:
    """CPU used by each part between start() and stop()."""

    def __init__(self, parts: dict):
        self.parts = parts                       # name -> ("pid"|"group"|"self", id)
        self.before: dict = {}

    def _now(self) -> dict:
        out = {}
        for name, (kind, ident) in self.parts.items():
            if kind == "self":
                t = os.times()
                out[name] = t.user + t.system
            elif kind == "pid":
                out[name] = cpu_seconds(pid=ident)
            else:
                out[name] = cpu_seconds(pgid=ident)
        return out

    def start(self) -> None:
        self.before = self._now()

    def stop(self) -> dict:
        after = self._now()
        return {k: round(after[k] - self.before[k], 2) for k in after}


def calibrate() -> float:
    """How fast this machine runs plain Python right now: ms for sum(range(2,000,000)),
    best of 5. The same code gives the same number on a quiet machine; a larger one means
    the CPU is slower or shared at that moment (these are shared VMs)."""
    best = None
    for _ in range(5):
        t = time.perf_counter()
        sum(range(2_000_000))
        d = (time.perf_counter() - t) * 1000
        best = d if best is None else min(best, d)
    return round(best, 1)


def script_calls(client) -> int:
    """EVALSHA calls so far (one per ingest batch, plus the poller's none)."""
    return int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


def run(args) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.eslpeer import EslPeer
    from tests.eslpeer.synthetic import SyntheticCalls
    from tests.support.redis_server import RedisServer

    tmp = Path(tempfile.mkdtemp(prefix="fscti-bench-events-"))
    redis = RedisServer(directory=tmp).start()      # state db 0, broker db 1
    client = redis.client(decode_responses=True)
    procs = []
    result: dict = {"console_feed": args.console_feed, "prerender": args.prerender, "workers": args.workers, "pool": args.pool, "batch_size": args.batch_size, "batch_delay_ms": args.batch_delay_ms,
                    "batch_max_delay_ms": args.batch_max_delay_ms}
    try:
        with EslPeer(record=False) as peer:
            cfg = {"freeswitch": [{"name": NODE, "host": peer.host, "port": peer.port,
                                   "password": peer.password}],
                   "state": {"resync_interval": 3600},
                   "console": {"feed": args.console_feed == "on"}}
            (tmp / "cti.json").write_text(json.dumps(cfg))
            env = {k: v for k, v in os.environ.items() if not k.startswith(("FSCTI_", "FREESWITCH_"))}
            env.update({"DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "REDIS_URL": redis.url_for(0),
                        "CELERY_BROKER_URL": redis.url_for(1), "CELERY_RESULT_BACKEND": redis.url_for(1),
                        "FSCTI_CONFIG": str(tmp / "cti.json"), "LOG_LEVEL": "WARNING",
                        "FSCTI_LISTENER_BATCH_DELAY_MS": str(args.batch_delay_ms),
                        "FSCTI_LISTENER_BATCH_MAX_DELAY_MS": str(args.batch_max_delay_ms),
                        "FSCTI_LISTENER_BATCH_SIZE": str(args.batch_size),
                        "PYTHONUNBUFFERED": "1"})
            py = sys.executable
            procs.append(start([py, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q",
                                "events", "-P", args.pool, "-c", str(args.workers), "--loglevel",
                                "WARNING", "--without-gossip", "--without-mingle",
                                "--without-heartbeat", "-n", f"bench-{os.getpid()}@%h"],
                               env, tmp / "worker.log"))
            procs.append(start([py, "-m", "workers.listener"], env, tmp / "listener.log"))
            peer.wait_subscribed(timeout=30)
            from app.state import keys

            deadline = time.monotonic() + 30            # the connect resync has run
            while not client.hget(keys.node(NODE), "resync_at"):
                if time.monotonic() > deadline:
                    raise RuntimeError("no resync applied: see " + str(tmp))
                time.sleep(0.05)
            gen = SyntheticCalls()
            applied = Applied(client, NODE)
            applied.thread.start()

            # every extension registered (a real system's state), then a warm-up
            applied.wait_for(register_all(peer), 120)
            warm = emit_calls(peer, gen, 50, None)
            applied.wait_for(max(warm), 60)
            result["registered"] = len(client.hkeys(keys.userinfo("127.0.0.1")))

            broker = redis.client(db=1) if args.workers > 1 else None
            parts = {"redis": ("pid", redis.proc.pid), "worker": ("group", procs[0].pid),
                     "worker-main": ("pid", procs[0].pid), "listener": ("group", procs[1].pid),
                     "peer+bench": ("self", None)}
            runs = []
            applied.interval = 0.005
            for _ in range(args.repeat):
                calib = calibrate()
                frames = None
                if args.prerender:      # the run's frames rendered before the clock starts
                    frames, sent = render_calls(peer, gen, args.calls)
                cpu = Cpu(parts)
                cpu.start()
                scripts_before = script_calls(client)
                t0 = time.time()
                if frames is not None:
                    send_frames(peer, frames, args.chunk)
                    frames = None
                else:
                    sent = emit_calls(peer, gen, args.calls, None)
                t_emitted = time.time()
                done = applied.wait_for(max(sent), 300, broker)
                if done is None:
                    raise RuntimeError("throughput run did not finish: see " + str(tmp))
                cpu_s = cpu.stop()
                batches = script_calls(client) - scripts_before
                runs.append({
                    "calls": args.calls, "events": len(sent),
                    "seconds": round(done - t0, 3),
                    "events_per_s": round(len(sent) / (done - t0)),
                    "emit_events_per_s": round(len(sent) / (t_emitted - t0)),
                    "cpu_s": cpu_s,
                    "cpu_us_per_event": round(sum(v for k, v in cpu_s.items()
                                                  if k in ("redis", "worker", "listener"))
                                              / len(sent) * 1e6),
                    "events_per_batch": round(len(sent) / max(1, batches), 1),
                    "calibration_ms": calib,
                    # events/s divided by the machine's speed (calibration loops/s): the events
                    # handled in the time of one calibration loop, comparable across hosts
                    "events_per_calibration": round(len(sent) / (done - t0) * calib / 1000, 1),
                })
                time.sleep(1.0)
            result["throughput"] = dict(sorted(runs, key=lambda r: r["events_per_s"])[len(runs) // 2],
                                        runs=runs)
            time.sleep(1.0)

            # The bench process (peer, poller) must not pause the measurement with a full
            # collection of what the throughput runs left: freeze it (app/runtime.py).
            gc.collect()
            gc.freeze()
            applied.interval = 0.0005
            calls = max(1, int(args.rate * args.seconds / 15))
            sent = emit_calls(peer, gen, calls, args.rate)
            if applied.wait_for(max(sent), 60) is None:
                raise RuntimeError("lag run did not finish: see " + str(tmp))
            lags = applied.lags_ms(sent)
            first = min(sent)
            worst = sorted(zip(lags, sorted(sent)), reverse=True)[:10]
            result["lag"] = {
                "rate": args.rate, "events": len(sent),
                "p50_ms": round(statistics.median(lags), 2),
                "p95_ms": round(percentile(lags, 95), 2),
                "p99_ms": round(percentile(lags, 99), 2),
                "max_ms": round(max(lags), 2),
                # the 10 slowest: (lag ms, s after the run's first event)
                "worst": [(round(lag, 1), round((ts - first) / 1e6, 3)) for lag, ts in worst],
            }
            applied.stop_flag.set()
            stats = client.info("commandstats")
            top = sorted(stats.items(), key=lambda kv: -kv[1]["usec"])[:6]
            result["redis_commands"] = {k.replace("cmdstat_", ""): {"calls": v["calls"], "usec": v["usec"]}
                                        for k, v in top}
            result["redis_used_memory_mb"] = round(
                int(client.info("memory")["used_memory"]) / 1e6, 1)
    finally:
        for p in reversed(procs):
            stop(p)
        redis.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            result["tmp"] = str(tmp)
    return result


def compare_feed(args) -> dict:
    """The console's change feed off and on, alternately, in one command (the feed
    must not cost the event path more than 3 %)."""
    sides: dict = {"off": [], "on": []}
    for _ in range(args.compare_console_feed):
        for side in ("off", "on"):
            args.console_feed = side
            r = run(args)
            sides[side].append({"events_per_s": r["throughput"]["events_per_s"],
                                "cpu_us_per_event": r["throughput"]["cpu_us_per_event"],
                                "lag_p95_ms": r["lag"]["p95_ms"], "lag_p99_ms": r["lag"]["p99_ms"]})
            print(side, sides[side][-1], flush=True)
    out: dict = {"rounds": args.compare_console_feed, "calls": args.calls, "rate": args.rate}
    for side, runs in sides.items():
        out[side] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        out[side]["runs"] = runs
    off, on = out["off"]["events_per_s"], out["on"]["events_per_s"]
    out["throughput_loss_pct"] = round((off - on) / off * 100, 2)
    out["cpu_per_event_change_pct"] = round(
        (out["on"]["cpu_us_per_event"] - out["off"]["cpu_us_per_event"])
        / out["off"]["cpu_us_per_event"] * 100, 2)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.run events", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=4000, help="calls for the throughput run")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s of the lag run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the lag run")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--pool", default="prefork", choices=["prefork", "solo", "threads"],
                        help="Celery pool of the events worker")
    parser.add_argument("--batch-size", type=int, default=500,
                        help="listener batch_size (events per ingest task, at most)")
    parser.add_argument("--batch-delay-ms", type=float, default=5.0,
                        help="listener batch_delay_ms (how long a batch waits to fill)")
    parser.add_argument("--batch-max-delay-ms", type=float, default=25.0,
                        help="listener batch_max_delay_ms (how long a busy node's batch waits to fill)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="throughput runs (the median one is reported and judged)")
    parser.add_argument("--live-render", dest="prerender", action="store_false",
                        help="throughput run: render each event just before sending it (the "
                             "peer then takes CPU from the pipeline) instead of rendering the "
                             "run's frames before the clock starts")
    parser.add_argument("--chunk", type=int, default=32,
                        help="pre-rendered frames per queued write in the throughput run")
    parser.add_argument("--keep", action="store_true", help="keep the logs (temp dir)")
    parser.add_argument("--console-feed", choices=["on", "off"], default="on",
                        help="the state script's change feed for the console (console.feed)")
    parser.add_argument("--compare-console-feed", type=int, default=0, metavar="ROUNDS",
                        help="run the whole benchmark 2 x ROUNDS times, feed off and on in "
                             "turn, and report each side's median and the difference")
    args = parser.parse_args(argv)
    if args.compare_console_feed:
        result = compare_feed(args)
    else:
        result = run(args)
    if args.compare_console_feed:
        save("events-console-feed", result)
        print(f"console feed off: {result['off']['events_per_s']} events/s, on: "
              f"{result['on']['events_per_s']} events/s (medians of {result['rounds']}): "
              f"{result['throughput_loss_pct']} % loss; CPU/event "
              f"{result['cpu_per_event_change_pct']:+} %; lag p95 off {result['off']['lag_p95_ms']}"
              f" ms, on {result['on']['lag_p95_ms']} ms")
        ok = result["throughput_loss_pct"] <= 3
        print("target (<= 3 % loss):", "met" if ok else "NOT met")
        return 0 if ok else 1
    save("events", result)
    tp, lag = result["throughput"], result["lag"]
    for i, r in enumerate(tp["runs"], 1):
        print(f"throughput run {i}: {r['events_per_s']} events/s end-to-end ({r['events']} events, "
              f"{r['calls']} calls in {r['seconds']} s; peer sent {r['emit_events_per_s']}/s); "
              f"cpu s {r['cpu_s']}, {r['cpu_us_per_event']} µs CPU/event in the pipeline; "
              f"{r['events_per_batch']} events per ingest batch; calibration {r['calibration_ms']} ms, "
              f"{r['events_per_calibration']} events per calibration loop")
    print(f"throughput (median of {len(tp['runs'])}): {tp['events_per_s']} events/s; divided by the "
          f"calibration (loops/s): {tp['events_per_calibration']} events per calibration loop "
          f"({tp['calibration_ms']} ms)")
    print(f"lag at {lag['rate']:.0f} events/s: p50 {lag['p50_ms']} ms, p95 {lag['p95_ms']} ms, "
          f"p99 {lag['p99_ms']} ms, max {lag['max_ms']} ms ({lag['events']} events)")
    ok = tp["events_per_s"] >= 10000 and lag["p99_ms"] <= 50
    print("targets (>= 10000 events/s, p99 <= 50 ms):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
