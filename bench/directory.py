"""Directory benchmark: /directory vs two floors, under the same gunicorn.

- floor: a Flask route giving a constant answer (Flask's own per-request work is inside it);
- raw-floor: a WSGI callable in front of Flask (app.directory.wsgi, no Flask request context)
  that reads the body, parses the form and formats one user: what any Python answerer under
  this gunicorn costs at least, the floor the directory's targets are judged against;
- floor-ping: the Flask floor plus reading/parsing the body and one Redis PING: the ceiling
  any design with one Redis round trip per lookup can reach on this machine;
- via-flask: /directory's answer through Flask's route, without the WSGI middleware: the
  baseline of the middleware, in the same run.

The four comparison endpoints are bench.directory_app's, installed on the production app.
Production shape: gunicorn as the Procfile's `web` line runs it (its config module, access log
and format; sync workers, --workers of them), a private
redis-server (tests.support.redis_server, never the shared one), SQL loaded by bulk insert and
mirrored by the real `flask mirror rebuild`. A new TCP connection per request, as mod_xml_curl
does. Three workloads, each against the five endpoints alternating on the same server
(A B C D E, E D C B A, ...; bench.directory_rounds), medians reported, ratios as medians of
the per-round ratios:
- target: ApacheBench posts the captured mod_xml_curl `sip_auth` body (user 1001, repeated);
- spread: wrk posts the same body with the user drawn uniformly from all loaded extensions, so
  the per-process answer cache mostly misses (its miss rate is counted from Redis's EVALSHAs);
- spread-c1: the spread workload with one connection (one FreeSWITCH SIP thread waiting):
  its p50 and p99 against the raw floor's.
First, the fence experiment (bench.directory_race). Results go to stdout and var/bench/.
With `--replica on`, the Procfile's `replica` process runs beside gunicorn (restarted for each
size, so its full fill is timed) and the workers read its file (`directory.replica`); the
file's size, the replica process's memory and the fill time are reported per size.

    python -m bench.run directory [--sizes 1000,1000000] [--requests 10000] [--seconds 2]
                                  [--rounds 6] [--concurrency 8] [--workers 5] [--cache on|off]
                                  [--workloads target,spread,spread-c1] [--race 20000]
                                  [--database-url URL] [--replica on|off]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.directory_load import PLACEHOLDER, ab_run, children, ensure_tool, wrk_run, wrk_script
from bench.directory_race import race
from bench.replica_run import ReplicaRun
from bench.directory_rounds import measure, report
from tests.support.net import listening_socket
from tests.support.redis_server import RedisServer
from bench.results import save

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FIXTURE = ROOT / "tests" / "fixtures" / "freeswitch" / "xml_curl_requests.jsonl"
DOMAIN = "127.0.0.1"

def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(),
            "kernel": platform.release()}


def loadavg() -> str:
    """1-minute load average: other tenants of a shared machine show up here."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def sip_auth_body(user: str = "1001", as_user: str | None = None) -> bytes:
    """The first captured REGISTER sip_auth request of `user`, re-encoded as FreeSWITCH sends it;
    with `as_user`, every field naming the user names `as_user` instead."""
    sys.path.insert(0, str(ROOT))
    from app.directory.form import encode

    for line in FIXTURE.read_text().splitlines():
        f = json.loads(line)["fields"]
        if f.get("action") == "sip_auth" and f.get("user") == user and f.get("sip_auth_method") == "REGISTER":
            return encode([(k, as_user if as_user is not None and v == user else v) for k, v in f.items()])
    raise SystemExit(f"no sip_auth REGISTER for {user} in {FIXTURE}")


class Env:
    """A private redis-server, a SQL database and the environment for the app's processes."""

    def __init__(self, tmp: Path, database_url: str | None, cache: str, replica: str = "off"):
        self.tmp = tmp
        self.redis = RedisServer(directory=tmp).start()
        self.redis_port = self.redis.port
        self.redis_url = self.redis.url
        self.database_url = database_url or f"sqlite:///{tmp / 'bench.db'}"
        self.env = dict(os.environ, DATABASE_URL=self.database_url, REDIS_URL=self.redis_url,
                        CELERY_BROKER_URL=self.redis_url, FLASK_APP="app:create_app",
                        LOG_LEVEL="WARNING", FSCTI_DIRECTORY_CACHE=cache, FSCTI_DIRECTORY_REPLICA=replica,
                        FSCTI_DIRECTORY_REPLICA_PATH=str(tmp / "replica"),
                        FSCTI_DIRECTORY_REPLICA_HOST="bench")
        self.env.pop("FSCTI_CONFIG", None)
        self.client = self.redis.client()

    def flask(self, *args) -> str:
        out = subprocess.run([str(BIN / "flask"), *args], env=self.env, cwd=ROOT,
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"flask {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def evalsha_calls(self) -> int:
        """EVALSHAs the private Redis ran: the lookups that reached it."""
        return int(self.client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))

    def redis_memory(self) -> str:
        return self.client.info("memory").get("used_memory_human", "?")

    def close(self):
        self.client.close()
        self.redis.close()


def load(env: Env, start: int, count: int) -> float:
    """Bulk-insert extensions `start`..`start+count-1` (names 1000+i) into SQL; seconds taken."""
    sys.path.insert(0, str(ROOT))
    os.environ.update(DATABASE_URL=env.database_url, REDIS_URL=env.redis_url)
    from app import create_app
    from app.extensions import db
    from app.models import Domain, Extension, Template
    from app.models.domain import DEFAULT_DIAL_STRING

    t0 = time.monotonic()
    app = create_app()
    with app.app_context():
        if start == 0 and db.session.execute(db.select(db.func.count()).select_from(Extension)).scalar():
            raise SystemExit(f"{env.database_url} already holds extensions: the benchmark needs an "
                             "empty database (it inserts up to a million rows)")
        dom = db.session.execute(db.select(Domain).filter_by(name=DOMAIN)).scalar_one_or_none()
        if dom is None:
            dom = Domain(name=DOMAIN, realm=DOMAIN, param={"dial-string": DEFAULT_DIAL_STRING},
                         variable={"default_areacode": "918"})
            tpl = Template(name="phones", param={"allow-empty-password": False,
                                                 "max-registrations-per-extension": 2},
                           variable={"user_context": "default", "sip-force-expires": "60"},
                           attribute={"cacheable": "60000"})
            db.session.add_all([dom, tpl])
            db.session.commit()
        tpl_id = db.session.execute(db.select(Template.id).filter_by(name="phones")).scalar_one()
        dom_id = dom.id
        table = Extension.__table__
        chunk = 20000
        with db.engine.begin() as conn:
            for base in range(start, start + count, chunk):
                rows = []
                for i in range(base, min(base + chunk, start + count)):
                    name = str(1000 + i)
                    alias = str(5000000 + i) if i % 10 == 0 else None
                    rows.append({"domain_id": dom_id, "name": name, "template_id": tpl_id, "enabled": True,
                                 "param": {"password": f"pw-{i:07d}"},
                                 "variable": {"effective_caller_id_number": name},
                                 "attribute": {"number-alias": alias} if alias else {},
                                 "number_alias": alias})
                conn.execute(table.insert(), rows)
    return time.monotonic() - t0


class Server:
    """gunicorn as the Procfile's `web` line runs it (sync workers), access log to /dev/null."""

    def __init__(self, env: Env, workers: int):
        from tests.support.web import procfile_web_args

        sock = listening_socket()                     # handed to gunicorn: no port to race for
        self.port = sock.getsockname()[1]
        self.log = open(env.tmp / "gunicorn.log", "wb")
        args = procfile_web_args()
        args[0] = str(BIN / "gunicorn")
        args[args.index("--bind") + 1] = f"fd://{sock.fileno()}"
        args[args.index("--workers") + 1] = str(workers)
        assert args[-1] == "app:create_app()", args
        args[-1] = "bench.directory_app:create_app()"  # production's app plus the floors
        self.proc = subprocess.Popen(
            args, env=env.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log,
            pass_fds=[sock.fileno()])
        sock.close()
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("gunicorn did not start; see gunicorn.log")

    def post(self, path: str, body: bytes) -> bytes:
        req = urllib.request.Request(self.base + path, data=body,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        return urllib.request.urlopen(req, timeout=5).read()

    def pids(self) -> list[int]:
        return [self.proc.pid] + children(self.proc.pid)

    def close(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench.run directory", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,1000000", help="extension counts, ascending")
    ap.add_argument("--requests", type=int, default=10000, help="requests per ab run (target workload)")
    ap.add_argument("--seconds", type=int, default=2, help="seconds per wrk run (spread workload)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=6, help="alternating rounds per workload")
    ap.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1,
                    help="gunicorn sync workers (default 2 x cores + 1)")
    ap.add_argument("--cache", choices=("on", "off"), default="on", help="the answer cache (directory.cache)")
    ap.add_argument("--race", type=int, default=20000, help="writes of the fence experiment (0: skip)")
    ap.add_argument("--workloads", default="target,spread,spread-c1")
    ap.add_argument("--database-url", help="SQL database to load (default: a temporary SQLite file)")
    ap.add_argument("--replica", choices=("on", "off"), default="off",
                    help="run the per-host replica and read it (directory.replica)")
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    workloads = [w for w in args.workloads.split(",") if w]
    ab = ensure_tool("ab", "apache2-utils")
    wrk = ensure_tool("wrk", "wrk") if any(w.startswith("spread") for w in workloads) else None
    body = sip_auth_body()
    result = {"machine": machine(), "workers": args.workers, "concurrency": args.concurrency,
              "requests": args.requests, "seconds": args.seconds, "rounds": args.rounds,
              "cache": args.cache, "replica": args.replica, "body_bytes": len(body), "sizes": {}}
    print(json.dumps(result["machine"]), flush=True)
    with tempfile.TemporaryDirectory(prefix="fscti-bench-") as d:
        tmp = Path(d)
        body_file = tmp / "sip_auth.body"
        body_file.write_bytes(body)
        env = Env(tmp, args.database_url, args.cache, args.replica)
        replica = None
        result["machine"]["redis"] = env.client.info("server").get("redis_version")
        server = None
        try:
            if args.race:
                sys.path.insert(0, str(ROOT))
                result["race"] = race(env.redis_url, args.race)
                print(f"fence experiment: {json.dumps(result['race'])}", flush=True)
            env.flask("db", "upgrade")
            loaded = 0
            for size in sizes:
                t_load = load(env, loaded, size - loaded)
                loaded = size
                t0 = time.monotonic()
                env.flask("mirror", "rebuild")
                t_rebuild = time.monotonic() - t0
                t0 = time.monotonic()
                check = env.flask("mirror", "check")  # what the beat reconcile does, read-only
                t_check = time.monotonic() - t0
                assert "no drift" in check, check
                fill = {}
                if args.replica == "on":
                    if replica is not None:
                        replica.close()
                    replica = ReplicaRun(env)
                    fill = {"replica_fill_seconds": replica.meta["fill_seconds"],
                            "replica_ready_seconds": round(replica.ready_seconds, 1), **replica.memory()}
                    print(f"{size} extensions: replica filled in {fill['replica_fill_seconds']:.1f}s "
                          f"(trusted after {fill['replica_ready_seconds']:.1f}s), file "
                          f"{fill['file_mb']} MB, replica process {fill['replica_rss_mb']} MB resident, "
                          f"{fill['replica_uss_mb']} MB of it its own", flush=True)
                if server is None:
                    server = Server(env, args.workers)
                answer = server.post("/directory", body)
                assert b'<user id="1001"' in answer, answer[:300]
                print(f"{size} extensions: SQL load {t_load:.1f}s, mirror rebuild {t_rebuild:.1f}s, "
                      f"mirror check {t_check:.1f}s, redis {env.redis_memory()}", flush=True)
                m = {"loadavg_before": loadavg(), "load_seconds": round(t_load, 1),
                     "rebuild_seconds": round(t_rebuild, 1), "check_seconds": round(t_check, 1),
                     "redis_memory": env.redis_memory(), **fill}
                if "target" in workloads:
                    def target(url, pids, warm=False):
                        n = min(2000, args.requests) if warm else args.requests
                        return ab_run(ab, url, body_file, n, args.concurrency, tmp, pids)
                    m["target"] = measure(target, server, env, args.rounds)
                    report("target", m["target"])
                script = wrk_script(sip_auth_body(as_user=PLACEHOLDER), PLACEHOLDER, size, tmp)
                for w, conc in (("spread", args.concurrency), ("spread-c1", 1)):
                    if w in workloads:
                        def spread(url, pids, warm=False, conc=conc):
                            return wrk_run(wrk, url, script, 1 if warm else args.seconds, conc, pids)
                        m[w] = measure(spread, server, env, args.rounds)
                        report(w, m[w])
                m["loadavg_after"] = loadavg()
                print(f"  load average before/after: {m['loadavg_before']} / {m['loadavg_after']}", flush=True)
                result["sizes"][size] = m
        finally:
            if server is not None:
                server.close()
            if replica is not None:
                replica.close()
            env.close()
    if len(sizes) > 1:
        small, big = result["sizes"][sizes[0]], result["sizes"][sizes[-1]]
        for w in workloads:
            change = round(big[w]["directory"]["p50"] / small[w]["directory"]["p50"] - 1, 3)
            result[f"p50_change_{w}"] = change
            print(f"{w}: p50 at {sizes[-1]} vs {sizes[0]}: {change:+.1%}; at {sizes[-1]}, directory ÷ "
                  f"raw floor {big[w]['ratio_raw']:.3f} (by CPU {big[w]['cpu_ratio_raw']:.3f}, p50 "
                  f"x{big[w]['ratio_p50_raw']:.3f}, p99 x{big[w]['ratio_p99_raw']:.3f}), ÷ Flask floor "
                  f"{big[w]['ratio']:.3f} (by CPU {big[w]['cpu_ratio']:.3f})", flush=True)
    print(f"results: {save('directory', result, stamped=True, indent=2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
