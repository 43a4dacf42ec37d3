"""Load generators and CPU accounting of the directory benchmark.

Two HTTP load generators, both opening a new TCP connection per request as mod_xml_curl does
(gunicorn's sync workers close every connection after the response, and neither tool is asked
for keep-alive):
- ApacheBench (`ab`) posts one fixed body: the captured sip_auth request (the target workload);
- wrk with a Lua script posts a body per request whose user is drawn uniformly from all loaded
  extensions (the spread workload, which mostly misses any per-process cache).
Both are installed from Debian's packages when missing.
"""
import os
import random
import shutil
import subprocess
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PLACEHOLDER = "USERPLACEHOLDER"


def ensure_tool(name: str, package: str) -> str:
    """The path of `name`, installing its Debian package first if needed."""
    path = shutil.which(name)
    if path:
        return path
    print(f"{name} ({package}) missing: installing it", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", package], check=False, stdout=subprocess.DEVNULL)
    path = shutil.which(name)
    if not path:
        raise SystemExit(f"{name} is required: apt-get install {package}")
    return path


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


def children(pid: int) -> list[int]:
    """Child pids of a process (gunicorn's workers)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


class Meter:
    """CPU of the server side (given pids) and of this process's children (the load generator)."""

    def __init__(self, server_pids=()):
        self.pids = list(server_pids)
        self.server0 = sum(cpu_seconds(p) for p in self.pids)
        t = os.times()
        self.kids0 = t.children_user + t.children_system

    def per_request(self, n: int) -> dict:
        t = os.times()
        server = sum(cpu_seconds(p) for p in self.pids) - self.server0
        kids = t.children_user + t.children_system - self.kids0
        return {"server_cpu_us": round(server / n * 1e6, 1), "client_cpu_us": round(kids / n * 1e6, 1)}


def ab_run(ab: str, url: str, body_file: Path, n: int, c: int, tmp: Path, server_pids=()) -> dict:
    """One ApacheBench run: requests/s, p50, p99 (ms), requests, CPU µs per request."""
    csv = tmp / "ab.csv"
    meter = Meter(server_pids)
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
    if failed or non2xx:
        raise SystemExit(f"ab: {failed} failed, {non2xx} non-2xx responses for {url}")
    pct = {}
    for line in csv.read_text().splitlines()[1:]:
        p, ms = line.split(",")
        pct[int(float(p))] = float(ms)
    return {"rps": rps, "p50": pct[50], "p99": pct[99], "requests": n, **meter.per_request(n)}


def wrk_script(body: bytes, user: str, users: int, tmp: Path) -> Path:
    """A wrk Lua script posting `body` with `user` replaced by one drawn from 1000..1000+users-1."""
    parts = body.split(user.encode())
    path = tmp / "spread.lua"
    quoted = ", ".join('"' + "".join(f"\\{b:03d}" for b in part) + '"' for part in parts)
    path.write_text(
        f"local parts = {{{quoted}}}\n"
        f"local users = {users}\n"
        f"math.randomseed({random.randrange(1 << 30)})\n"
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        "request = function()\n"
        "  local u = tostring(1000 + math.random(0, users - 1))\n"
        "  return wrk.format(nil, nil, nil, table.concat(parts, u))\n"
        "end\n")
    return path


def _ms(text: str) -> float:
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[:-len(unit)]) * scale
    raise ValueError(text)


def wrk_run(wrk: str, url: str, script: Path, seconds: int, c: int, server_pids=()) -> dict:
    """One wrk run (one thread, c connections): requests/s, p50, p99 (ms), CPU µs per request."""
    meter = Meter(server_pids)
    out = subprocess.run([wrk, "-t1", f"-c{c}", f"-d{max(1, int(seconds))}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"wrk failed: {out.stderr or out.stdout}")
    rps = requests = None
    pct, errors = {}, []
    in_dist = False
    for line in out.stdout.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(words[1])
        elif "requests in" in line:
            requests = int(words[0])
        elif line.strip().startswith(("Socket errors", "Non-2xx")):
            errors.append(line.strip())
        elif line.strip().startswith("Latency Distribution"):
            in_dist = True
        elif in_dist and len(words) == 2 and words[0].endswith("%"):
            pct[int(float(words[0][:-1]))] = _ms(words[1])
        else:
            in_dist = False
    if errors or not requests:
        raise SystemExit(f"wrk: {errors or 'no requests'} for {url}\n{out.stdout}")
    return {"rps": rps, "p50": pct[50], "p99": pct[99], "requests": requests,
            **meter.per_request(requests)}
