"""Clients built from a redis+sentinel:// URL against real sentinels: redis-py clients follow
the failover; the directory's hot connection asks the sentinels, refuses a server that is not
the master (ROLE), and drops its answer cache when the master goes."""
import pytest
import redis

from app import redis_client
from app.directory.hotconn import HotConnection
from tests.support.sentinel import SentinelCluster, needs_sentinel

pytestmark = [pytest.mark.integration, needs_sentinel, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def cluster():
    with SentinelCluster() as c:
        yield c


def test_the_url_names_the_master_and_its_db(cluster):
    url = cluster.url(3)
    c = redis_client.client(url, decode_responses=True, socket_timeout=1)
    c.set("fscti:test:where", "here")
    assert redis_client.master_address(url) == ("127.0.0.1", cluster.master.port)
    assert cluster.master.client(3, decode_responses=True).get("fscti:test:where") == "here"
    assert cluster.master.client(0).get("fscti:test:where") is None


def test_hot_connection_refuses_a_replica(cluster, monkeypatch):
    """The sentinels' answer can be a moment old during a failover: a server whose ROLE is
    not master is refused, and nothing gets cached from it."""
    hot = HotConnection(cluster.url(3), 0.5, cache_entries=16)
    assert hot.execute_command("PING") == "PONG"
    assert hot.cache() is not None
    hot.reset()
    monkeypatch.setattr(redis_client, "master_address",
                        lambda url: ("127.0.0.1", cluster.replica.port))
    with pytest.raises(redis.ConnectionError, match="is a slave, not the master"):
        hot.execute_command("PING")
    assert hot.cache() is None and hot.fresh_cache() is None


def test_failover_drops_the_cache_and_clients_follow(cluster):
    """Last in this module: it kills the master."""
    url = cluster.url(3)
    writer = redis_client.client(url, decode_responses=True, socket_timeout=1,
                                 socket_connect_timeout=0.5)
    writer.set("fscti:test:k", "old")
    assert writer.execute_command("WAIT", 1, 5000) == 1   # replicated (replication is async)
    hot = HotConnection(url, 0.5, cache_entries=16)
    assert hot.execute_command("GET", "fscti:test:k") == "old"
    cache = hot.cache()
    cache.put(("d", "u", "id"), (b"<old/>", 0), ("fscti:test:k",))
    assert hot.fresh_cache().get(("d", "u", "id")) is not None
    old = cluster.kill_master()
    # the dead master's connection is noticed before any cached answer is served
    assert hot.fresh_cache() is None
    assert cache.get(("d", "u", "id")) is None
    with pytest.raises(redis.ConnectionError):
        hot.execute_command("GET", "fscti:test:k")   # sentinels still name the dead master
    cluster.wait_failover(old)
    # the replica had the data; the new connection is tracked again, its cache starts empty
    assert hot.execute_command("GET", "fscti:test:k") == "old"
    assert hot.fresh_cache() is not None and hot.fresh_cache().get(("d", "u", "id")) is None
    assert redis_client.master_address(url) == ("127.0.0.1", cluster.replica.port)
    writer.set("fscti:test:k", "new")              # the same client, now on the new master
    assert cluster.replica.client(3, decode_responses=True).get("fscti:test:k") == "new"
    assert hot.execute_command("GET", "fscti:test:k") == "new"


def test_the_broker_transport_closes_cleanly_after_the_master_died():
    """kombu's own sentinel transport raises AttributeError when a channel that holds an
    unacked message is closed after its transport let go of the client (the worker then
    stops: "Unrecoverable error"); ours (app.kombu_sentinel) closes, the restore meeting the
    failover's ConnectionError, which kombu ignores while closing."""
    from kombu import Connection, Queue
    from kombu.transport.redis import SentinelTransport

    from app import kombu_sentinel

    with SentinelCluster() as c:
        target = redis_client.parse(c.url(2))
        url, options = kombu_sentinel.sentinel_urls(target), kombu_sentinel.transport_options(target)
        queue = Queue("fscti-test-q")
        conns = {"kombu": Connection(url, transport=SentinelTransport, transport_options=options),
                 "ours": Connection(url, transport_options=options)}
        assert type(conns["ours"].transport) is kombu_sentinel.Transport
        with conns["ours"].Producer() as producer:
            for _ in conns:
                producer.publish({"x": 1}, routing_key=queue.name, declare=[queue])
        for conn in conns.values():
            assert queue(conn.default_channel).get(no_ack=False) is not None   # unacked
        c.kill_master()
        outcome = {}
        for name, conn in conns.items():
            conn._do_close_transport()        # the order a consumer's error handling can take
            try:
                conn.close()
                outcome[name] = "closed"
            except Exception as exc:  # noqa: BLE001
                outcome[name] = type(exc).__name__
    assert outcome == {"kombu": "AttributeError", "ours": "closed"}
