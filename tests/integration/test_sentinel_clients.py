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
