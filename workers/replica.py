"""The replica process of one host (Procfile: replica): fills and follows this host's copy of
the directory mirror, which /directory's workers read when `directory.replica` is on.

Run exactly one per host that runs `web`, with the same `directory.replica_path` and a
`directory.replica_host` name unique among hosts (the machine's host name by default).
Operator guide: docs/freeswitch.md §7.1.
"""
from __future__ import annotations

import faulthandler
import logging
import signal


from app import redis_client
from app.config import Settings
from app.logs import configure
from app.replica.process import Replica

log = logging.getLogger("fscti.replica")


def main() -> None:
    faulthandler.register(signal.SIGUSR1)
    settings = Settings.load()
    configure(settings.log_level)
    lease = settings.directory_replica_lease
    block_ms = max(10, int(lease * 250))  # renew four times per lease while idle
    client = redis_client.client(settings.redis_url, socket_timeout=lease * 0.25 + 2.0,
                                 socket_connect_timeout=2.0, health_check_interval=0)
    replica = Replica(client, settings.directory_replica_path, settings.directory_replica_host, lease)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    log.info("replica of %s for host %s at %s (lease %.1f s)", settings.redis_url,
             settings.directory_replica_host, settings.directory_replica_path, lease)
    replica.run(lambda: bool(stopping), block_ms)
    log.info("replica stopped")


if __name__ == "__main__":
    main()
