"""Make sure a Redis answers at the given URL; start a local one under var/ when none does.

Used by `make run`, `make test` and `make bench`. Only starts a server for a loopback URL.
"""
import os
import shutil
import subprocess
import sys
import time
from urllib.parse import urlparse

import redis


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from app import redis_client  # noqa: E402  (the project's own URL forms, Sentinel included)


def answers(url: str) -> bool:
    try:
        return bool(redis_client.client(url, socket_connect_timeout=1).ping())
    except (redis.RedisError, ValueError):
        return False


def main(url: str) -> int:
    if answers(url):
        return 0
    if redis_client.is_sentinel(url):
        # never started here: a Sentinel-managed master is the operator's (docs/operations.md)
        print(f"ensure_redis: no master answers through the sentinels of {url}; "
              f"start them yourself", file=sys.stderr)
        return 1
    parts = urlparse(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"ensure_redis: nothing answers at {url} and it is not local; start it yourself",
              file=sys.stderr)
        return 1
    server = shutil.which("redis-server")
    if not server:
        print("ensure_redis: no Redis answers and redis-server is not installed "
              "(Debian/Ubuntu: apt install redis-server; macOS: brew install redis)", file=sys.stderr)
        return 1
    var = os.path.abspath("var")
    os.makedirs(var, exist_ok=True)
    subprocess.run([server, "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "yes",
                    "--dir", var, "--pidfile", os.path.join(var, f"redis-{port}.pid"),
                    "--logfile", os.path.join(var, f"redis-{port}.log"),
                    "--save", "60 1000", "--appendonly", "no"], check=True)
    for _ in range(50):
        if answers(url):
            print(f"ensure_redis: started redis-server on 127.0.0.1:{port} (data in var/)")
            return 0
        time.sleep(0.1)
    print(f"ensure_redis: redis-server did not answer; see var/redis-{port}.log", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")))
