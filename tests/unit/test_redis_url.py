"""The one Redis URL form for a Sentinel-managed master (app.redis_client) and its Celery
translation (app.kombu_sentinel): parsing, defaults, and a clear ValueError for bad URLs."""
import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from app import kombu_sentinel, redis_client
from app.config import ConfigError, Settings


def test_full_url_parses():
    t = redis_client.parse("redis+sentinel://:s%40cret@h1:26379,10.0.0.2:26380,[::1]/mymaster/3"
                           "?sentinel_password=sp&socket_timeout=0.2")
    assert t.sentinels == (("h1", 26379), ("10.0.0.2", 26380), ("::1", 26379))
    assert (t.master, t.db, t.password, t.username) == ("mymaster", 3, "s@cret", None)
    assert t.sentinel_password == "sp" and t.socket_timeout == 0.2
    assert t.sentinel_kwargs() == {"socket_timeout": 0.2, "socket_connect_timeout": 0.2,
                                   "password": "sp"}


def test_defaults_and_user():
    t = redis_client.parse("redis+sentinel://app:pw@h1/mymaster")
    assert t.sentinels == (("h1", 26379),) and t.db == 0
    assert (t.username, t.password) == ("app", "pw")
    assert t.socket_timeout == redis_client.DEFAULT_SENTINEL_TIMEOUT
    assert redis_client.parse("redis+sentinel://h1/m/").db == 0
    assert redis_client.parse("redis+sentinel://pw@h1/m/1").password == "pw"


@pytest.mark.parametrize("url, says", [
    ("redis+sentinel:///mymaster/0", "names no sentinel host"),
    ("redis+sentinel://h1:26379", "names no master"),
    ("redis+sentinel://h1:26379/", "names no master"),
    ("redis+sentinel://h1:26379/m/x", "database must be a number"),
    ("redis+sentinel://h1:26379/m/0/9", "path must be /<master-name>/<db>"),
    ("redis+sentinel://h1:99999/m/0", "bad port '99999'"),
    ("redis+sentinel://h1:abc/m/0", "bad port 'abc'"),
    ("redis+sentinel://h1,,h2/m/0", "empty host"),
    ("redis+sentinel://::1:26379/m/0", "IPv6 address in brackets"),
    ("redis+sentinel://[::1:26379/m/0", "unclosed '['"),
    ("redis+sentinel://h1/m/0?master=x", "unknown option 'master'"),
    ("redis+sentinel://h1/m/0?socket_timeout=-1", "socket_timeout must be a positive"),
    ("redis+sentinel://h1/m/0?socket_timeout=soon", "socket_timeout must be a positive"),
])
def test_bad_urls_say_what_is_wrong(url, says):
    with pytest.raises(ValueError) as err:
        redis_client.parse(url)
    assert says in str(err.value)


def test_messages_hide_the_password():
    with pytest.raises(ValueError) as err:
        redis_client.parse("redis+sentinel://:topsecret@h1:26379")
    assert "topsecret" not in str(err.value) and "***" in str(err.value)


def test_settings_refuse_a_bad_url_naming_the_setting():
    with pytest.raises(ConfigError, match="REDIS_URL: .*names no master"):
        Settings.load({"REDIS_URL": "redis+sentinel://h1:26379"})
    with pytest.raises(ConfigError, match="REDIS_URL: not a Redis URL"):
        Settings.load({"REDIS_URL": "http://h1:6379/0"})
    with pytest.raises(ConfigError, match="CELERY_BROKER_URL: .*database must be a number"):
        Settings.load({"CELERY_BROKER_URL": "redis+sentinel://h1/m/zero"})
    s = Settings.load({"REDIS_URL": "redis+sentinel://h1,h2/m/2", "CELERY_BROKER_URL": "amqp://x"})
    assert s.celery_result_backend == "redis+sentinel://h1,h2/m/2"


def test_plain_urls_build_plain_clients(redis_url):
    c = redis_client.client(redis_url, decode_responses=True)
    assert type(c.connection_pool) is redis.ConnectionPool
    assert c.ping()
    assert not redis_client.is_sentinel(redis_url)


def test_sentinel_url_builds_a_master_for_client():
    # Built without connecting: the sentinels are asked on the first command.
    c = redis_client.client("redis+sentinel://:pw@127.0.0.1:1,127.0.0.1:2/mymaster/4",
                            decode_responses=True, socket_timeout=0.3)
    pool = c.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "mymaster"
    kw = pool.connection_kwargs
    assert (kw["db"], kw["password"], kw["socket_timeout"]) == (4, "pw", 0.3)
    with pytest.raises(redis.ConnectionError):   # MasterNotFoundError: nobody listens there
        c.ping()


def test_celery_translation():
    conf = kombu_sentinel.celery_conf("redis+sentinel://:p%3Aw@h1:26379,[::1]:26380/mm/2",
                                      "redis://r:6379/1")
    assert conf["broker_url"] == "sentinel://:p%3Aw@h1:26379/2;sentinel://:p%3Aw@[::1]:26380/2"
    assert conf["broker_transport_options"]["master_name"] == "mm"
    assert conf["broker_read_url"] == conf["broker_write_url"] == conf["broker_url"]
    from kombu.transport import resolve_transport
    assert resolve_transport("sentinel") is kombu_sentinel.Transport
    assert conf["result_backend"] == "redis://r:6379/1"
    assert "result_backend_transport_options" not in conf
    same = kombu_sentinel.celery_conf("amqp://guest@h/v", "redis+sentinel://h1/mm/5")
    assert same["broker_url"] == "amqp://guest@h/v"
    assert same["result_backend"] == "sentinel://h1:26379/5"
    assert same["result_backend_transport_options"]["master_name"] == "mm"
