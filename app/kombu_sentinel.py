"""Our one Redis URL form, translated for Celery: broker (kombu) and result backend.

kombu's sentinel transport and Celery's sentinel result backend each take the sentinels as
`sentinel://h1:26379/<db>;sentinel://h2:26379/<db>` and the master's name in their transport
options (`broker_transport_options` / `result_backend_transport_options`, `master_name`).
A redis+sentinel:// URL (app.redis_client) becomes exactly that; any other URL (redis://,
amqp://, ...) is passed on unchanged.
"""
from __future__ import annotations

from urllib.parse import quote

from kombu import transport as kombu_transport
from kombu.transport import redis as kombu_redis

from app import redis_client

# kombu's sentinel transport with one repair (Transport below). It is installed as the
# `sentinel://` scheme itself, not as Celery's `broker_transport`: kombu re-reads the scheme
# each time it moves on to the next sentinel URL of the list, and would leave our class then.
TRANSPORT = "app.kombu_sentinel:Transport"


class Channel(kombu_redis.SentinelChannel):
    """kombu 5.7's SentinelChannel, except that it survives closing after a failover.

    When the master dies while a message is delivered but not acknowledged, the worker's
    consumer closes its connection, and the transport may already have let go of its client
    (`connection.client` is None) when the channel restores the unacked messages. That
    restore needs a new pool, whose sentinels and parameters kombu reads from that client: an
    AttributeError, which stops the whole worker ("Unrecoverable error"). Here the channel
    keeps its client from creation and lends it back for building that pool: the restore then
    reaches the new master (the message goes back to its queue at once) or meets the
    failover's ConnectionError, which kombu ignores while closing (the message stays in the
    broker's unacked set and is delivered again after the visibility timeout).
    """

    def __init__(self, connection, *args, **kwargs):
        self._fscti_client = connection.client
        super().__init__(connection, *args, **kwargs)

    def _get_pool(self, asynchronous=False):
        transport = self.connection
        if transport.client is not None or self._fscti_client is None:
            return super()._get_pool(asynchronous)
        transport.client = self._fscti_client
        try:
            return super()._get_pool(asynchronous)
        finally:
            transport.client = None

    def close(self):
        super().close()
        self._disconnect_pools()      # a pool built by the restore above


class Transport(kombu_redis.SentinelTransport):
    Channel = Channel


kombu_transport.TRANSPORT_ALIASES["sentinel"] = TRANSPORT


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def sentinel_urls(target: redis_client.SentinelTarget) -> str:
    """kombu's `sentinel://...;sentinel://...` for `target` (the master's credentials and db
    in each part, as both kombu and Celery read them)."""
    creds = ""
    if target.password:
        creds = f"{quote(target.username or '', safe='')}:{quote(target.password, safe='')}@"
    return ";".join(f"sentinel://{creds}{_host(h)}:{p}/{target.db}" for h, p in target.sentinels)


def transport_options(target: redis_client.SentinelTarget) -> dict:
    return {"master_name": target.master, "sentinel_kwargs": target.sentinel_kwargs()}


def celery_conf(broker_url: str, result_backend: str) -> dict:
    """The Celery settings for these two URLs (redis+sentinel:// translated, others as given)."""
    conf: dict = {"broker_url": broker_url, "result_backend": result_backend}
    if redis_client.is_sentinel(broker_url):
        target = redis_client.parse(broker_url)
        conf["broker_url"] = sentinel_urls(target)
        # Celery reads the CELERY_BROKER_URL environment variable before its own broker_url,
        # and that variable may hold our redis+sentinel:// form: the read and write URLs win
        # over it (and every connection Celery opens uses one of them).
        conf["broker_read_url"] = conf["broker_write_url"] = conf["broker_url"]
        conf["broker_transport_options"] = transport_options(target)
    if redis_client.is_sentinel(result_backend):
        target = redis_client.parse(result_backend)
        conf["result_backend"] = sentinel_urls(target)
        conf["result_backend_transport_options"] = transport_options(target)
    return conf
