"""Directory hot path in-process: what each step of a lookup costs, without HTTP or gunicorn.

Against a private redis-server (TCP, plus a second one on a Unix socket) and a SQLite database
of --extensions users mirrored by the real `flask mirror rebuild`, one app built as gunicorn
builds it, plus bench.directory_app's floors. Each figure is µs per call, wall and this
process's CPU, best of --repeat batches of --calls (best of: the machine is shared, the least
disturbed batch is the code's cost). Measured:
- form parsing: app.directory.form.parse against urllib's parse_qsl of the whole body;
- XML rendering of one user: app.directory.xml.document against ElementTree, and the JSON
  decoding of the extension's value that comes before it;
- whole WSGI calls: the raw floor, /directory through the middleware (repeated user: answer
  cache hit; spread users: a miss, one EVALSHA), /directory through Flask's route (a chunked
  body takes it), the Flask floor;
- the store round trip alone: the LOOKUP EVALSHA as the hot path sends it, PING over TCP and
  over a Unix socket, and an LMDB read (mmap, shared by processes) of the same value,
  with LMDB's file size and fill time for these extensions (scaled to 1M in the report).

    python -m bench.run directory-inproc [--extensions 20000] [--calls 2000] [--repeat 7]
"""
import argparse
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

from bench.directory import DOMAIN, Env, load, machine, sip_auth_body
from tests.support.redis_server import RedisServer
from bench.results import save

ROOT = Path(__file__).resolve().parent.parent


def cost(fn, calls: int, repeat: int, args_list=None) -> dict:
    """µs per call of fn(), wall and CPU, best of `repeat` batches."""
    best_wall = best_cpu = None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        if args_list is None:
            for _ in range(calls):
                fn()
        else:
            for a in args_list[:calls]:
                fn(a)
        w, c = time.perf_counter() - w0, time.process_time() - c0
        best_wall = w if best_wall is None else min(best_wall, w)
        best_cpu = c if best_cpu is None else min(best_cpu, c)
    return {"wall_us": round(best_wall / calls * 1e6, 2), "cpu_us": round(best_cpu / calls * 1e6, 2)}


def environ(path: str, body: bytes, chunked: bool = False) -> dict:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.0",
            "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": "" if chunked else str(len(body)), "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": chunked, "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
            "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
            "wsgi.version": (1, 0)}


def _start(status, headers, exc_info=None):
    return None


def etree_user(domain_entry: dict, name: str, eff: dict) -> bytes:
    """The same document built with ElementTree (the alternative to app.directory.xml)."""
    doc = ET.Element("document", type="freeswitch/xml")
    dom = ET.SubElement(ET.SubElement(doc, "section", name="directory"), "domain", name=DOMAIN)
    for tag in ("param", "variable"):
        if domain_entry.get(tag):
            box = ET.SubElement(dom, tag + "s")
            for k, v in domain_entry[tag].items():
                ET.SubElement(box, tag, name=k, value=str(v))
    user = ET.SubElement(ET.SubElement(dom, "users"), "user", id=name,
                         **{k: str(v) for k, v in eff.get("attribute", {}).items()})
    for tag in ("param", "variable"):
        if eff.get(tag):
            box = ET.SubElement(user, tag + "s")
            for k, v in eff[tag].items():
                ET.SubElement(box, tag, name=k, value=str(v).lower() if isinstance(v, bool) else str(v))
    return ET.tostring(doc)


def run(args) -> dict:
    sys.path.insert(0, str(ROOT))
    out = {"machine": machine(), "extensions": args.extensions, "calls": args.calls,
           "repeat": args.repeat}
    with tempfile.TemporaryDirectory(prefix="fscti-inproc-") as d:
        tmp = Path(d)
        env = Env(tmp, None, "on")
        unix_path = tmp / "redis.sock"
        unix = RedisServer("--unixsocket", str(unix_path), "--unixsocketperm", "700",
                           directory=tmp).start()
        try:
            env.flask("db", "upgrade")
            load(env, 0, args.extensions)
            env.flask("mirror", "rebuild")
            os.environ.update(env.env)
            from bench.directory_app import create_app
            from app.directory import xml
            from app.directory.form import parse
            from app.directory.lookup import directory
            from app.state import keys

            app = create_app()
            wsgi = app.wsgi_app
            d = directory(app)
            c = calls = args.calls
            users = [str(1000 + random.randrange(args.extensions)) for _ in range(c)]
            body = sip_auth_body()
            bodies = [sip_auth_body(as_user=u) for u in users]
            r = {}
            # --- form parsing
            r["form.parse"] = cost(parse, c, args.repeat, bodies)
            r["form.parse_qsl"] = cost(lambda b: dict(parse_qsl(b.decode("latin-1"))), c, args.repeat, bodies)
            # --- XML of one user (the value as Redis holds it)
            raw_values = env.client.hmget(keys.exten(DOMAIN), users)
            values = [v.decode() for v in raw_values]
            effs = [json.loads(v) for v in values]
            dom_entry = json.loads(env.client.hget(keys.domains(), DOMAIN))
            head = xml.domain_open(DOMAIN, dom_entry)
            pairs = list(zip(users, effs))
            r["json.loads(extension)"] = cost(json.loads, c, args.repeat, values)
            r["xml.document"] = cost(lambda p: xml.document(head, p[0], p[1]), c, args.repeat, pairs)
            r["xml.etree"] = cost(lambda p: etree_user(dom_entry, p[0], p[1]), c, args.repeat, pairs)
            # --- whole WSGI calls
            def call(path, chunked=False):
                def one(b):
                    for _ in wsgi(environ(path, b, chunked), _start):
                        pass
                return one
            r["wsgi raw floor"] = cost(call("/directory/raw-floor"), c, args.repeat, bodies)
            r["wsgi /directory, middleware, repeated user (cache hit)"] = cost(
                call("/directory"), c, args.repeat, [body] * c)
            d.reader.reset()
            spread_cold = list(bodies)
            before = dict(d.stats)
            r["wsgi /directory, middleware, spread users (miss: EVALSHA)"] = cost(
                call("/directory"), c, 1, spread_cold)
            out["spread_stats"] = {k: d.stats[k] - before[k] for k in before}
            # the answer cache now holds these: a new set for every batch of the Flask route too
            fresh = [sip_auth_body(as_user=str(1000 + random.randrange(args.extensions)))
                     for _ in range(c)]
            d.reader.reset()
            r["wsgi /directory, Flask route, spread users"] = cost(call("/directory", True), c, 1, fresh)
            r["wsgi Flask floor"] = cost(call("/directory/floor"), c, args.repeat, bodies)
            # --- the store round trip alone
            r["redis EVALSHA LOOKUP (TCP)"] = cost(lambda u: d._redis(DOMAIN, u, "id"), c, args.repeat, users)
            tcp = env.redis.client()
            r["redis PING (TCP)"] = cost(lambda: tcp.execute_command("PING"), c, args.repeat)
            ux = __import__("redis").Redis(unix_socket_path=str(unix_path))
            r["redis PING (Unix socket)"] = cost(lambda: ux.execute_command("PING"), c, args.repeat)
            r["lmdb"] = lmdb_cost(tmp, env, args, users, c)
            out["costs"] = r
            out["redis_used_memory"] = env.redis_memory()
        finally:
            unix.close()
            env.close()
    return out


def lmdb_cost(tmp: Path, env, args, users, c) -> dict:
    """An LMDB copy of the domain's extension hash: fill time, file size, read cost."""
    try:
        import lmdb
    except ImportError:
        return {"skipped": "pip install lmdb to measure it"}
    from app.state import keys

    path = tmp / "replica.lmdb"
    t0 = time.monotonic()
    db = lmdb.open(str(path), map_size=4 << 30, subdir=True, sync=False, metasync=False, lock=True)
    cursor, n = 0, 0
    with db.begin(write=True) as txn:
        while True:
            cursor, chunk = env.client.hscan(keys.exten(DOMAIN), cursor, count=5000)
            for k, v in chunk.items():
                txn.put(DOMAIN.encode() + b"\0" + k, v)
                n += 1
            if cursor == 0:
                break
    fill = time.monotonic() - t0
    size = sum(f.stat().st_size for f in path.iterdir())
    used = db.stat()["psize"] * (db.info()["last_pgno"] + 1)
    keys_b = [DOMAIN.encode() + b"\0" + u.encode() for u in users]

    def read(k):
        with db.begin(buffers=False) as txn:
            return json.loads(txn.get(k))
    out = {"entries": n, "fill_seconds": round(fill, 2), "file_bytes_used": used,
           "file_bytes_sparse": size,
           "read+json.loads": cost(read, c, args.repeat, keys_b)}
    txn = db.begin()
    out["get in an open txn"] = cost(txn.get, c, args.repeat, keys_b)
    txn.abort()
    db.close()
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench.run directory-inproc", description=__doc__.splitlines()[0])
    ap.add_argument("--extensions", type=int, default=20000)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    res = run(args)
    print(json.dumps(res["machine"]), flush=True)
    for name, v in res["costs"].items():
        if name == "lmdb":
            continue
        print(f"  {name:58} {v['wall_us']:8.2f} us wall {v['cpu_us']:8.2f} us CPU")
    lm = res["costs"]["lmdb"]
    if "skipped" in lm:
        print(f"  lmdb: {lm['skipped']}")
    else:
        scale = 1_000_000 / max(1, lm["entries"])
        print(f"  lmdb: {lm['entries']} entries filled in {lm['fill_seconds']} s, "
              f"{lm['file_bytes_used'] / 1e6:.1f} MB used (x{scale:.0f} for 1M: "
              f"~{lm['file_bytes_used'] * scale / 1e6:.0f} MB, ~{lm['fill_seconds'] * scale:.0f} s)")
        for k in ("read+json.loads", "get in an open txn"):
            print(f"  {'lmdb ' + k:58} {lm[k]['wall_us']:8.2f} us wall {lm[k]['cpu_us']:8.2f} us CPU")
    print(f"  answers of the spread batch by source: {res['spread_stats']}")
    print(f"  redis used_memory at {res['extensions']} extensions: {res['redis_used_memory']}")
    print(f"results: {save('directory-inproc', res, stamped=True, indent=2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
