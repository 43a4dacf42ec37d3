"""Directory benchmark: /directory vs a constant-response endpoint (the framework floor).

A third endpoint, floor-ping, is the floor plus reading/parsing the body and one Redis PING: the
ceiling any design with one Redis round trip per lookup can reach on this machine.

Production shape: gunicorn with sync workers as in the Procfile's `web` line, a private
redis-server on a free port (never the shared one), SQL loaded by bulk insert and mirrored by the
real `flask mirror rebuild`. ApacheBench sends the captured mod_xml_curl `sip_auth` body with a
new TCP connection per request (no -k), as mod_xml_curl does. Floor and directory runs alternate
on the same server; the medians are reported. Results go to stdout and var/bench/.

    python -m bench.run directory [--sizes 1000,1000000] [--requests 10000] [--rounds 6]
                                  [--concurrency 8] [--workers 5] [--database-url URL]
"""
import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FIXTURE = ROOT / "tests" / "fixtures" / "freeswitch" / "xml_curl_requests.jsonl"
DOMAIN = "127.0.0.1"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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


def sip_auth_body(user: str = "1001") -> bytes:
    """The first captured REGISTER sip_auth request of `user`, re-encoded as FreeSWITCH sends it."""
    sys.path.insert(0, str(ROOT))
    from app.directory.form import encode

    for line in FIXTURE.read_text().splitlines():
        req = json.loads(line)
        f = req["fields"]
        if f.get("action") == "sip_auth" and f.get("user") == user and f.get("sip_auth_method") == "REGISTER":
            return encode(f.items())
    raise SystemExit(f"no sip_auth REGISTER for {user} in {FIXTURE}")


def ensure_ab() -> str:
    ab = shutil.which("ab")
    if ab:
        return ab
    print("ab (apache2-utils) missing: installing it", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "apache2-utils"], check=False,
                   stdout=subprocess.DEVNULL)
    ab = shutil.which("ab")
    if not ab:
        raise SystemExit("ApacheBench (ab) is required: apt-get install apache2-utils")
    return ab


class Env:
    """A private redis-server, a SQL database and the environment for the app's processes."""

    def __init__(self, tmp: Path, database_url: str | None):
        self.tmp = tmp
        self.redis_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.database_url = database_url or f"sqlite:///{tmp / 'bench.db'}"
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL)
        self.env = dict(os.environ, DATABASE_URL=self.database_url, REDIS_URL=self.redis_url,
                        CELERY_BROKER_URL=self.redis_url, FLASK_APP="app:create_app",
                        LOG_LEVEL="WARNING", FSCTI_BENCH="1")
        self.env.pop("FSCTI_CONFIG", None)
        for _ in range(200):
            if subprocess.run(["redis-cli", "-p", str(self.redis_port), "ping"],
                              capture_output=True).stdout.strip() == b"PONG":
                break
            time.sleep(0.05)

    def flask(self, *args) -> str:
        out = subprocess.run([str(BIN / "flask"), *args], env=self.env, cwd=ROOT,
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"flask {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def redis_memory(self) -> str:
        out = subprocess.run(["redis-cli", "-p", str(self.redis_port), "info", "memory"],
                             capture_output=True, text=True).stdout
        return next((line.split(":")[1].strip() for line in out.splitlines()
                     if line.startswith("used_memory_human")), "?")

    def close(self):
        self.redis.terminate()
        self.redis.wait(10)


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


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


class Server:
    """gunicorn as the Procfile's `web` line runs it (sync workers)."""

    def __init__(self, env: Env, workers: int):
        self.port = free_port()
        self.log = open(env.tmp / "gunicorn.log", "wb")
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
             "--access-logfile", "-", "app:create_app()"],
            env=env.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self.log)
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


def ab_run(ab: str, url: str, body_file: Path, n: int, c: int, tmp: Path, server_pids=()) -> dict:
    """One ApacheBench run: requests/s, p50, p99 (ms), and CPU µs per request of the server side
    (gunicorn + redis-server) and of ab; CPU per request is what other tenants of a shared
    machine disturb least."""
    csv = tmp / "ab.csv"
    cpu0 = sum(cpu_seconds(p) for p in server_pids)
    kids0 = os.times()
    out = subprocess.run([ab, "-q", "-n", str(n), "-c", str(c), "-p", str(body_file),
                          "-T", "application/x-www-form-urlencoded", "-e", str(csv), url],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"ab failed: {out.stderr or out.stdout}")
    rps = failed = non2xx = None
    for line in out.stdout.splitlines():
        if line.startswith("Requests per second:"):
            rps = float(line.split()[3])
        elif line.startswith("Failed requests:"):
            failed = int(line.split()[2])
        elif line.startswith("Non-2xx responses:"):
            non2xx = int(line.split()[2])
    pct = {}
    for line in csv.read_text().splitlines()[1:]:
        p, ms = line.split(",")
        pct[int(float(p))] = float(ms)
    if failed or non2xx:
        raise SystemExit(f"ab: {failed} failed, {non2xx} non-2xx responses for {url}")
    server_cpu = sum(cpu_seconds(p) for p in server_pids) - cpu0
    kids1 = os.times()
    ab_cpu = (kids1.children_user + kids1.children_system) - (kids0.children_user + kids0.children_system)
    return {"rps": rps, "p50": pct[50], "p99": pct[99],
            "server_cpu_us": round(server_cpu / n * 1e6, 1), "ab_cpu_us": round(ab_cpu / n * 1e6, 1)}


def measure(ab: str, server: Server, redis_pid: int, body_file: Path, args, tmp: Path) -> dict:
    """Alternate floor and directory runs; medians of each, and the median of the per-round
    ratios (each round pairs two adjacent runs, so slow drifts of a shared machine cancel)."""
    names = ("floor", "floor-ping", "directory")
    runs = {name: [] for name in names}
    urls = {name: f"{server.base}/{'directory' if name == 'directory' else 'directory/' + name}"
            for name in names}
    pids = server.pids() + [redis_pid]
    for name in names:  # warm every worker (scripts loaded, caches filled)
        ab_run(ab, urls[name], body_file, min(2000, args.requests), args.concurrency, tmp)
    for i in range(args.rounds):
        for name in (names if i % 2 == 0 else names[::-1]):
            runs[name].append(ab_run(ab, urls[name], body_file, args.requests, args.concurrency, tmp, pids))
    out = {}
    for name, rs in runs.items():
        out[name] = {k: round(statistics.median(r[k] for r in rs), 3)
                     for k in ("rps", "p50", "p99", "server_cpu_us", "ab_cpu_us")}
        out[name]["runs"] = rs
    for name in ("directory", "floor-ping"):
        key = "ratio" if name == "directory" else "ping_ratio"
        ratios = [d["rps"] / f["rps"] for f, d in zip(runs["floor"], runs[name])]
        out[key] = round(statistics.median(ratios), 3)
        # If the machine did nothing else: total CPU per request, floor / this endpoint.
        f, d = out["floor"], out[name]
        out[key.replace("ratio", "cpu_ratio")] = round(
            (f["server_cpu_us"] + f["ab_cpu_us"]) / (d["server_cpu_us"] + d["ab_cpu_us"]), 3)
    out["ratio_of_medians"] = round(out["directory"]["rps"] / out["floor"]["rps"], 3)
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench.run directory", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,1000000", help="extension counts, ascending")
    ap.add_argument("--requests", type=int, default=10000, help="requests per ab run")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=6, help="alternating floor/directory rounds")
    ap.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1,
                    help="gunicorn sync workers (default 2 x cores + 1)")
    ap.add_argument("--database-url", help="SQL database to load (default: a temporary SQLite file)")
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    ab = ensure_ab()
    body = sip_auth_body()
    result = {"machine": machine(), "workers": args.workers, "concurrency": args.concurrency,
              "requests": args.requests, "rounds": args.rounds, "body_bytes": len(body), "sizes": {}}
    print(json.dumps(result["machine"]), flush=True)
    with tempfile.TemporaryDirectory(prefix="fscti-bench-") as d:
        tmp = Path(d)
        body_file = tmp / "sip_auth.body"
        body_file.write_bytes(body)
        env = Env(tmp, args.database_url)
        server = None
        try:
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
                if server is None:
                    server = Server(env, args.workers)
                answer = server.post("/directory", body)
                assert b'<user id="1001"' in answer, answer[:300]
                print(f"{size} extensions: SQL load {t_load:.1f}s, mirror rebuild {t_rebuild:.1f}s, "
                      f"mirror check {t_check:.1f}s, redis {env.redis_memory()}", flush=True)
                load_before = loadavg()
                m = measure(ab, server, env.redis.pid, body_file, args, tmp)
                m["loadavg_before_after"] = [load_before, loadavg()]
                m.update(load_seconds=round(t_load, 1), rebuild_seconds=round(t_rebuild, 1),
                         check_seconds=round(t_check, 1),
                         redis_memory=env.redis_memory())
                result["sizes"][size] = m
                for name in ("floor", "floor-ping", "directory"):
                    r = m[name]
                    print(f"  {name:10} {r['rps']:8.1f} req/s  p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms  "
                          f"cpu/req server {r['server_cpu_us']:.0f} us + ab {r['ab_cpu_us']:.0f} us", flush=True)
                print(f"  load average before/after: {m['loadavg_before_after']}", flush=True)
                print(f"  directory/floor {m['ratio']:.3f} (median of rounds; by CPU per request "
                      f"{m['cpu_ratio']:.3f});  one-round-trip ceiling floor-ping/floor {m['ping_ratio']:.3f} "
                      f"(by CPU {m['ping_cpu_ratio']:.3f})", flush=True)
        finally:
            if server is not None:
                server.close()
            env.close()
    if len(sizes) > 1:
        small, big = result["sizes"][sizes[0]], result["sizes"][sizes[-1]]
        result["p50_change"] = round(big["directory"]["p50"] / small["directory"]["p50"] - 1, 3)
        print(f"p50 at {sizes[-1]} vs {sizes[0]}: {result['p50_change']:+.1%}; "
              f"ratio at {sizes[-1]}: {big['ratio']:.3f}", flush=True)
    out_dir = ROOT / "var" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"directory-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
