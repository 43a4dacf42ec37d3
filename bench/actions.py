"""Supervisor-action latency: API call → command on the event-socket wire, with a real worker.

Everything real except FreeSWITCH: gunicorn serving the app (sync workers, as the Procfile's
`web`), a Celery prefork worker on `actions,events`, the listener process, a private
redis-server (state db 0, broker db 1) and a SQLite file; the wire-level peer (tests/eslpeer)
plays FreeSWITCH and timestamps every packet as it arrives. The captured call 5 is replayed
through the peer first, so targets are found in the live state as in production, and the
listener brings each originate's BACKGROUND_JOB back so the settle task ends the action.

Requests alternate supervise (→ `bgapi originate ...`, cycling the four modes) and hang-up
(→ `api uuid_kill ...`, the first of the two kills), one at a time with a pause between, as
supervisors click. Per request: `api` = until the 202 arrived; `wire` = until the command
reached the peer. Target: wire p95 <= 50 ms.

    python -m bench.run actions [--requests 200] [--pause-ms 20] [--workers 2]
"""
from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.events import percentile, start, stop
from bench.results import save

ROOT = Path(__file__).resolve().parent.parent
NODE = "fs1"
TOKEN = "bench-actions-token"
A5 = "7b12b60d-bb3e-4b17-9ee8-bc18e8ff15de"
CALL5_UP_US = 1795670604_000000
MODES = ("listen", "whisper_extension", "whisper_far_end", "barge")


def arrived(peer, prefix: str) -> list:
    """Packets the peer received whose command starts with `prefix`, in arrival order."""
    return [p for c in list(peer.all_connections) for p in list(c.packets)
            if p.command.startswith(prefix)]


def wait(predicate, timeout: float, what: str, poll: float = 0.0005):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(poll)


def post(port: int, path: str, body: dict) -> tuple[int, dict]:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    con.request("POST", path, json.dumps(body), {"Content-Type": "application/json",
                                                 "Authorization": f"Bearer {TOKEN}"})
    resp = con.getresponse()
    data = json.loads(resp.read() or b"{}")
    con.close()
    return resp.status, data


def one(peer, port: int, kind: str, mode: str) -> dict:
    """Send one action; (api ms, wire ms) measured from just before the request."""
    prefix = "bgapi originate " if kind == "supervise" else "api uuid_kill "
    # Packets of several connections (one per worker process): match by identity, not index.
    before = {id(p) for p in arrived(peer, prefix)}
    body = {"supervisor": "1003", "mode": mode} if kind == "supervise" else {}
    t0 = time.time()
    status, data = post(port, f"/api/v1/calls/{A5}/{kind}", body)
    t_api = time.time()
    if status != 202:
        raise RuntimeError(f"{kind}: HTTP {status} {data}")
    packet = wait(lambda: min((p for p in arrived(peer, prefix) if id(p) not in before),
                              key=lambda p: p.at, default=None), 10, f"{kind} on the wire")
    return {"kind": kind, "api_ms": (t_api - t0) * 1000, "wire_ms": (packet.at - t0) * 1000,
            "id": data["id"]}


def summary(rows: list[dict], key: str) -> dict:
    values = [r[key] for r in rows]
    return {"n": len(values), "p50": round(percentile(values, 50), 2),
            "p95": round(percentile(values, 95), 2), "p99": round(percentile(values, 99), 2),
            "max": round(max(values), 2)}


def run(args) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.eslpeer import EslPeer, phase_events
    from tests.support.net import listening_socket
    from tests.support.redis_server import RedisServer

    tmp = Path(tempfile.mkdtemp(prefix="fscti-bench-actions-"))
    redis = RedisServer(directory=tmp).start()      # state db 0, broker db 1
    client = redis.client(decode_responses=True)
    procs: list[subprocess.Popen] = []
    result: dict = {"requests": args.requests, "pause_ms": args.pause_ms,
                    "worker_processes": args.workers, "web_workers": args.web_workers}
    try:
        with EslPeer() as peer:
            cfg = {"freeswitch": [{"name": NODE, "host": peer.host, "port": peer.port,
                                   "password": peer.password}],
                   "state": {"resync_interval": 3600}}
            (tmp / "cti.json").write_text(json.dumps(cfg))
            env = {k: v for k, v in os.environ.items() if not k.startswith(("FSCTI_", "FREESWITCH_"))}
            env.update({"DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "REDIS_URL": redis.url_for(0),
                        "CELERY_BROKER_URL": redis.url_for(1), "CELERY_RESULT_BACKEND": redis.url_for(1),
                        "FSCTI_CONFIG": str(tmp / "cti.json"), "LOG_LEVEL": "WARNING",
                        "FSCTI_ADMIN_TOKEN": TOKEN, "FLASK_APP": "app:create_app",
                        "FSCTI_LISTENER_BATCH_DELAY_MS": "2", "PYTHONUNBUFFERED": "1"})
            py = sys.executable
            subprocess.run([py, "-m", "flask", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            web = listening_socket()                  # handed to gunicorn: no port to race for
            port = web.getsockname()[1]
            procs.append(start([py, "-m", "gunicorn", "--bind", f"fd://{web.fileno()}",
                                "--workers", str(args.web_workers), "app:create_app()"],
                               env, tmp / "web.log", pass_fds=[web.fileno()]))
            web.close()
            procs.append(start([py, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q",
                                "actions,events", "-P", "prefork", "-c", str(args.workers),
                                "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
                                "--without-heartbeat", "-n", f"bench-actions-{os.getpid()}@%h"],
                               env, tmp / "worker.log"))
            procs.append(start([py, "-m", "workers.listener"], env, tmp / "listener.log"))
            peer.wait_subscribed(timeout=30)
            from app.state import keys

            wait(lambda: client.hget(keys.node(NODE), "resync_at"), 30, "the connect resync",
                 0.05)
            peer.replay(events=[w for w in phase_events("call5_eavesdrop")
                                if w.timestamp_us <= CALL5_UP_US])
            wait(lambda: client.exists(keys.channel(A5)), 30, "call 5 in the state", 0.05)
            wait(lambda: _up(port), 30, "gunicorn", 0.05)

            kinds = itertools.cycle(["supervise", "hangup"])
            modes = itertools.cycle(MODES)
            for _ in range(args.warmup):                   # connections, imports, SQL caches
                one(peer, port, next(kinds), next(modes))
                time.sleep(args.pause_ms / 1000)
            load_before = os.getloadavg()
            rows = []
            for _ in range(args.requests):
                rows.append(one(peer, port, next(kinds), next(modes)))
                time.sleep(args.pause_ms / 1000)
            result["loadavg_before_after"] = [round(load_before[0], 2),
                                              round(os.getloadavg()[0], 2)]
            for kind in ("supervise", "hangup"):
                part = [r for r in rows if r["kind"] == kind]
                result[kind] = {"api_ms": summary(part, "api_ms"), "wire_ms": summary(part, "wire_ms")}
            result["all"] = {"api_ms": summary(rows, "api_ms"), "wire_ms": summary(rows, "wire_ms")}
            last = rows[-2]["id"] if rows[-1]["kind"] == "hangup" else rows[-1]["id"]
            result["last_supervise_settled"] = _settled(port, last)
    finally:
        for proc in reversed(procs):
            stop(proc)
        redis.close()
        if args.keep:
            result["logs"] = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def _up(port: int) -> bool:
    try:
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        con.request("GET", "/healthz")
        ok = con.getresponse().status == 200
        con.close()
        return ok
    except OSError:
        return False


def _settled(port: int, action_id: str) -> str:
    """The state of the last supervise action a few seconds later (the settle task ran)."""
    deadline = time.monotonic() + 10
    state = "?"
    while time.monotonic() < deadline:
        con = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        con.request("GET", f"/api/v1/actions/{action_id}",
                    headers={"Authorization": f"Bearer {TOKEN}"})
        state = json.loads(con.getresponse().read()).get("state", "?")
        con.close()
        if state in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    return state


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.run actions", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="measured requests")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests first")
    parser.add_argument("--pause-ms", type=float, default=20.0, help="pause between requests")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--keep", action="store_true", help="keep the logs (temp dir)")
    args = parser.parse_args(argv)
    result = run(args)
    save("actions", result)
    for kind in ("supervise", "hangup", "all"):
        api, wire = result[kind]["api_ms"], result[kind]["wire_ms"]
        print(f"{kind:9} n={wire['n']:4}  202 in p50 {api['p50']} / p95 {api['p95']} ms;  "
              f"on the wire p50 {wire['p50']} / p95 {wire['p95']} / p99 {wire['p99']} / "
              f"max {wire['max']} ms")
    print(f"load average before/after: {result['loadavg_before_after']}; last supervise: "
          f"{result['last_supervise_settled']}")
    ok = result["all"]["wire_ms"]["p95"] <= 50
    print("target (wire p95 <= 50 ms):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
