"""A throwaway redis-server on a free port (directory tests that stop Redis or count its work
must not share the machine's Redis: other test runs flush it, which clears tracking caches)."""
import shutil
import socket
import subprocess
import time

import pytest
import redis as redis_lib

needs_redis_server = pytest.mark.skipif(shutil.which("redis-server") is None,
                                        reason="redis-server not installed")


class PrivateRedis:
    """A throwaway redis-server on a free port, no persistence."""

    def __init__(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.proc = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> redis_lib.Redis:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis_lib.Redis.from_url(self.url)
        for _ in range(200):
            try:
                client.ping()
                return client
            except redis_lib.ConnectionError:
                time.sleep(0.025)
        raise RuntimeError("private redis-server did not start")

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
