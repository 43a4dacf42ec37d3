"""Redis data loss benchmark: how long until `cti_exten@<domain>` is complete again, and the live
state back, after Redis lost everything (target: ≤ 10 s for 100,000 extensions).

Production shape: a private redis-server (tests.support.redis_server) holding the data and the
Celery broker, SQL loaded by bulk insert (bench.directory.load), a real Celery worker (queues
events,celery, 2 processes) and the real listener connected to a wire-level FreeSWITCH peer
(tests/eslpeer) whose registration table the resync reads. Each round empties Redis one way:
- `flushall`: FLUSHALL under the running processes;
- `restart`: redis-server stopped and started empty (no persistence), timed from the moment it
  answers again.
and measures, from then on: the mirror complete (HLEN = N and the generation healed) and the
peer's registrations back in `cti_userinfo@`; also when the loss was noticed (the marker
claimed) and the worker's own rebuild time. Baselines, measured in the same run: the same
mirror rebuilt by `flask mirror rebuild` with nothing else running (what the heal adds is the
detection, the queueing and the worker), and the rebuild alone in this process, the former SQL
reader against today's, alternately (bench/rebuild_paths.py).

    python -m bench.run redis_loss [--extensions 100000] [--rounds 3] [--database-url URL]
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.directory import DOMAIN, Env, load, loadavg, machine
from bench.results import save

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
T_REG = 1795670526_500000


def _peer():
    sys.path.insert(0, str(ROOT))
    from tests.eslpeer import EslPeer
    from tests.support.replay import api_output

    return EslPeer(api={"strmicroepoch": str(T_REG),
                        "sofia xmlstatus profile internal reg":
                            api_output("api sofia xmlstatus profile internal reg"),
                        "show channels as json": '{"row_count": 0}\n',
                        "show calls as json": '{"row_count": 0}\n'})


def _registered(r) -> int:
    from app.state import keys

    return sum(1 for v in r.hvals(keys.userinfo("127.0.0.1")) if b'"register"' in v)


def _wait(pred, timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise SystemExit(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - t0


def _until_all(conds: dict, timeout: float) -> dict[str, float]:
    """Seconds until each condition first held, polled together from now."""
    t0 = time.monotonic()
    done: dict[str, float] = {}
    while len(done) < len(conds):
        now = time.monotonic() - t0
        if now > timeout:
            raise SystemExit(f"timed out after {timeout}s: {done}")
        for name, pred in conds.items():
            if name not in done and pred():
                done[name] = time.monotonic() - t0
        time.sleep(0.02)
    return done


def _last_rebuild_s(log: Path) -> float | None:
    """The worker's own time for the last rebuild of the domain ("rebuilt ... in 1.2s")."""
    found = re.findall(rf"rebuilt {re.escape(DOMAIN)}: \d+ extensions .*? in ([0-9.]+)s",
                       log.read_text(errors="replace"))
    return float(found[-1]) if found else None


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench.run redis_loss")
    ap.add_argument("--extensions", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from app.state import keys

    n = args.extensions
    out = {"machine": machine(), "extensions": n, "loadavg_start": loadavg()}
    with tempfile.TemporaryDirectory(prefix="fscti-bench-loss-") as tmp_name:
        tmp = Path(tmp_name)
        env = Env(tmp, args.database_url, "on")
        try:
            env.flask("db", "upgrade")
            out["sql_load_s"] = round(load(env, 0, n), 1)
            base = []
            for _ in range(args.rounds):
                env.client.flushall()
                t0 = time.monotonic()
                env.flask("mirror", "rebuild")
                base.append(time.monotonic() - t0)
            assert env.client.hlen(keys.exten(DOMAIN)) == n
            out["baseline_flask_mirror_rebuild_s"] = [round(x, 2) for x in base]
            # The rebuild alone, in this process: the former SQL reader against today's.
            from app import create_app
            from bench.rebuild_paths import compare

            paths = compare(create_app(), env.client, DOMAIN, n, args.rounds)
            out["rebuild_in_process"] = paths
            for label, rows in paths.items():
                for what in ("wall_s", "cpu_s", "redis_cpu_s"):
                    out[f"rebuild_{label}_{what}_median"] = round(
                        statistics.median(x[what] for x in rows), 2)
            print(json.dumps(paths), flush=True)
            env.client.flushall()
            env.flask("mirror", "rebuild")
            with _peer() as peer:
                cfg = tmp / "cti.json"
                cfg.write_text(json.dumps({"freeswitch": [
                    {"name": "fs1", "host": peer.host, "port": peer.port,
                     "password": peer.password}]}))
                penv = dict(env.env, FSCTI_CONFIG=str(cfg), LOG_LEVEL="INFO",
                            CELERY_RESULT_BACKEND=env.redis_url,
                            FSCTI_LISTENER_REDIS_CHECK_INTERVAL="1")
                logs = [open(tmp / f"{name}.log", "wb") for name in ("worker", "listener")]
                procs = [subprocess.Popen(
                    [PY, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q",
                     "events,celery", "-c", "2", "--loglevel", "INFO", "--without-gossip",
                     "--without-mingle", "--without-heartbeat"], cwd=ROOT, env=penv,
                    stdout=logs[0], stderr=subprocess.STDOUT),
                    subprocess.Popen([PY, "-m", "workers.listener"], cwd=ROOT, env=penv,
                                     stdout=logs[1], stderr=subprocess.STDOUT)]
                try:
                    r = env.client
                    peer.wait_subscribed(timeout=60)
                    _wait(lambda: _registered(r) == 3, 60, "the connect resync")
                    results = {"flushall": [], "restart": []}
                    for _ in range(args.rounds):
                        for how in ("flushall", "restart"):
                            if how == "flushall":
                                r.flushall()
                            else:
                                env.redis.stop()
                                env.redis.start()
                            t = _until_all({
                                # the loss noticed: a check (or a write) claimed the heal
                                "claimed": lambda: r.exists(keys.generation()),
                                "mirror": lambda: (r.hlen(keys.exten(DOMAIN)) == n
                                                   and r.hget(keys.generation(), "state") == b"ok"),
                                "state": lambda: _registered(r) == 3}, 120)
                            time.sleep(0.5)  # the worker's log line
                            results[how].append({
                                "claimed_s": round(t["claimed"], 2), "mirror_s": round(t["mirror"], 2),
                                "state_s": round(t["state"], 2),
                                "worker_rebuild_s": _last_rebuild_s(tmp / "worker.log")})
                            time.sleep(1.0)
                    out["rounds"] = results
                    for how, rows in results.items():
                        out[f"{how}_mirror_median_s"] = round(
                            statistics.median(x["mirror_s"] for x in rows), 2)
                        out[f"{how}_state_median_s"] = round(
                            statistics.median(x["state_s"] for x in rows), 2)
                        out[f"{how}_claimed_median_s"] = round(
                            statistics.median(x["claimed_s"] for x in rows), 2)
                finally:
                    for p in procs:
                        p.terminate()
                    for p in procs:
                        try:
                            p.wait(15)
                        except subprocess.TimeoutExpired:
                            p.kill()
                    for f in logs:
                        f.close()
        finally:
            env.close()
    out["loadavg_end"] = loadavg()
    print(json.dumps(out, indent=1))
    save("redis_loss", out, stamped=True)
    return 0
