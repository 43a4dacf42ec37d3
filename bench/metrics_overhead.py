"""What the directory's metrics cost per /directory request, measured in one process.

The HTTP benchmark (bench/directory.py) cannot resolve a cost this small next to a whole request
on a shared machine (identical runs move by far more). This one calls the app's WSGI callable in-process, as
gunicorn's worker does, for a cached `sip_auth` lookup (the usual case), and times in the same
run, alternating, many rounds, best round kept (the least disturbed):
- `request`: a whole POST /directory through the WSGI app (metrics included);
- `answer`: Directory.answer (the lookup plus its metrics: two clock reads, the meter);
- `bare`: Directory._answer (the same lookup without them).
overhead = (answer − bare) ÷ request. Real Redis (a private redis-server) and SQLite.

    python -m bench.run metrics [--rounds 15] [--calls 3000]
"""
import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.support.redis_server import RedisServer


def _environ(body: bytes) -> dict:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/directory", "SERVER_NAME": "bench",
            "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "SERVER_PROTOCOL": "HTTP/1.1"}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench.run metrics")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--calls", type=int, default=3000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fscti-bench-metrics-") as tmp:
        redis = RedisServer(directory=tmp).start()
        try:
            return _run(args, Path(tmp), redis)
        finally:
            redis.stop()


def _run(args, tmp: Path, redis) -> int:
    from app import create_app
    from app.config import Settings
    from app.directory.form import encode, parse
    from app.directory.lookup import directory
    from app.mirror.rebuild import rebuild_all
    from app.extensions import db
    from app.models import Domain, Extension

    settings = Settings.load(env={})
    settings.database_url = f"sqlite:///{tmp / 'bench.db'}"
    settings.redis_url = settings.celery_broker_url = settings.celery_result_backend = redis.url
    app = create_app(settings)
    with app.app_context():
        db.create_all()
        dom = Domain(name="127.0.0.1", realm="127.0.0.1", param={}, variable={})
        db.session.add(dom)
        db.session.add(Extension(domain=dom, name="1001", param={"password": "1234"},
                                 attribute={"cacheable": "60000"}))
        db.session.commit()
        rebuild_all()
        body = encode([("section", "directory"), ("tag_name", "domain"), ("key_name", "name"),
                       ("key_value", "127.0.0.1"), ("action", "sip_auth"), ("key", "id"),
                       ("user", "1001"), ("domain", "127.0.0.1")])
        q = parse(body)
        d = directory()
        assert b'id="1001"' in d.answer(q)

    wsgi = app.wsgi_app

    def request_loop(n):
        for _ in range(n):
            out = wsgi(_environ(body), lambda *a: None)
            b"".join(out)
            getattr(out, "close", lambda: None)()

    with app.app_context():
        d = directory()
        answer, bare = d.answer, d._answer

        def answer_loop(n):
            for _ in range(n):
                answer(q)

        def bare_loop(n):
            for _ in range(n):
                bare(q)

        # the in-process loops are ~100× shorter: 20× the calls, and both orders each round
        loops = {"request": (request_loop, args.calls), "answer": (answer_loop, 20 * args.calls),
                 "bare": (bare_loop, 20 * args.calls)}
        best = {k: float("inf") for k in loops}
        for i in range(args.rounds):
            for name in (("request", "answer", "bare") if i % 2 else ("request", "bare", "answer")):
                loop, n = loops[name]
                t0 = time.perf_counter()
                loop(n)
                best[name] = min(best[name], (time.perf_counter() - t0) / n * 1e6)
    added = best["answer"] - best["bare"]
    print(f"per call, best of {args.rounds} rounds (µs): request {best['request']:.1f}, "
          f"answer {best['answer']:.2f}, bare {best['bare']:.2f}")
    print(f"metrics overhead: {added:.2f} µs per request = {added / best['request'] * 100:.2f} % "
          f"(multiprocess mode: {'on' if os.environ.get('PROMETHEUS_MULTIPROC_DIR') else 'off'})")
    return 0
