"""The /directory answer cache against a real (private) redis-server: hits cost no round trip,
every change that reaches Redis invalidates, and nothing stale is ever served.

A private server because other test runs share the machine's Redis, and their FLUSHDBs (of any
database) clear every tracking cache: counting hits there would be luck.
"""
import json

import pytest
import redis as redis_lib

from app.directory.clients import for_app
from app.directory.hotconn import HotConnection
from app.directory.lookup import directory
from app.extensions import db
from app.mirror import write
from app.mirror.client import make_client, writer
from app.mirror.rebuild import rebuild_domain
from app.mirror.repairs import repairs
from app.mirror.scripts import fence
from app.models import Extension
from app.state import keys
from tests.support.directory_cache import D, ask, dom, evalsha_calls, private  # noqa: F401 (fixtures)
from tests.support.redis_server import heal_mirror, needs_redis_server

pytestmark = [pytest.mark.integration, needs_redis_server]     # private redis-servers


def test_a_repeated_lookup_costs_no_round_trip(client, dom, private):
    assert ask(client, "1001")[:2] == (["1001"], {"password": "pw-0", "allow-empty-password": "false"})
    before = evalsha_calls(private)
    for _ in range(20):
        assert ask(client, "1001")[1]["password"] == "pw-0"
    assert evalsha_calls(private) == before
    assert directory().stats["cache"] == 20 and directory().stats["redis"] == 1


# (key the lookup reads, the lookup that reads it, a write to that key that changes no answer)
TRACKED = [
    ("domains", "1001", "id", lambda r: r.hset(keys.domains(), "other.example", "{}")),
    ("exten", "1001", "id", lambda r: r.hset(keys.exten(D), "9999", "{}")),
    ("alias", "5001", "id", lambda r: r.hset(keys.alias(D), "7777", "1003")),
    ("alias-only", "5001", "number-alias", lambda r: r.hset(keys.alias(D), "7778", "1003")),
    ("disabled", "1002", "id", lambda r: r.sadd(keys.disabled(D), "9998")),
]


@pytest.mark.parametrize("what,user,key,touch", TRACKED, ids=[t[0] for t in TRACKED])
def test_every_key_the_lookup_script_reads_is_tracked(client, dom, private, what, user, key, touch):
    """Redis 7.0 must send an invalidation for keys read INSIDE the EVALSHA (else a change
    would never reach the cache): a write to each of them makes the next lookup ask Redis."""
    first = ask(client, user, key)
    assert ask(client, user, key) == first
    calls = evalsha_calls(private)
    touch(writer())
    fence(writer())
    assert ask(client, user, key) == first  # same answer, but computed again
    assert evalsha_calls(private) == calls + 1


def test_writes_to_keys_the_lookup_does_not_read_keep_the_cache(client, dom, private):
    """The control for the test above: only the lookup's own keys invalidate."""
    ask(client, "1001")
    calls = evalsha_calls(private)
    w = writer()
    w.hset(keys.userinfo(D), "1001", "{}")
    w.incr(keys.mirror_seq(D))
    w.hset(keys.exten("other.example"), "1001", "{}")
    w.ping()
    assert ask(client, "1001")[1]["password"] == "pw-0"
    assert evalsha_calls(private) == calls


def _value(i: int) -> str:
    return json.dumps({"param": {"password": f"pw-{i}"}, "variable": {},
                       "attribute": {"number-alias": "5001"}})


def _write_then_read(client, n: int) -> tuple[list, int]:
    """n times: write a new password through the mirror, look it up at once, then again."""
    stale, hits = [], 0
    w = writer()
    for i in range(1, n + 1):
        assert write.write_ops(w, D, [["U", "1001", _value(i), "5001"]]) == 1
        got = ask(client, "1001" if i % 2 else "5001")[1].get("password")
        if got != f"pw-{i}":
            stale.append((i, got))
        before = directory().stats["cache"]
        again = ask(client, "1001" if i % 2 else "5001")[1].get("password")
        if again != f"pw-{i}":
            stale.append((i, again))
        hits += directory().stats["cache"] - before
    return stale, hits


def test_write_then_lookup_is_never_stale(client, dom, private):
    ask(client, "1001")
    stale, hits = _write_then_read(client, 3000)
    assert stale == []
    assert hits == 3000  # the second lookup of each round came from the cache


def test_the_loop_above_would_catch_a_cache_that_does_not_drain(client, dom, private, monkeypatch):
    """Proof that the loop can fail: without applying the pushes, stale answers are served."""
    monkeypatch.setattr(HotConnection, "fresh_cache", HotConnection.cache)
    ask(client, "1001")
    ask(client, "5001")
    stale, _ = _write_then_read(client, 20)
    assert len(stale) >= 20


def test_api_changes_are_visible_to_the_next_lookup(client, dom, private, admin):
    base = f"/api/v1/domains/{D}/extensions"

    def warm(user, key="id"):
        a = ask(client, user, key)
        hits = directory().stats["cache"]
        assert ask(client, user, key) == a and directory().stats["cache"] == hits + 1
        return a

    assert warm("1001")[1]["password"] == "pw-0"
    assert client.patch(f"{base}/1001", json={"param": {"password": "pw-new"}}, headers=admin).status_code == 200
    assert ask(client, "1001")[1]["password"] == "pw-new"

    assert warm("5001")[0] == ["1001"]
    assert client.patch(f"{base}/1001", json={"attribute": {"number-alias": "6001"}}, headers=admin).status_code == 200
    assert ask(client, "5001")[0] == [] and ask(client, "6001")[0] == ["1001"]

    warm("1003")
    assert client.patch(f"{base}/1003", json={"enabled": False}, headers=admin).status_code == 200
    assert ask(client, "1003")[0] == []
    assert client.patch(f"{base}/1003", json={"enabled": True}, headers=admin).status_code == 200
    assert ask(client, "1003")[0] == ["1003"]

    warm("1002")  # disabled: the domain without users, also cached
    assert client.patch(f"{base}/1002", json={"enabled": True}, headers=admin).status_code == 200
    assert ask(client, "1002")[0] == ["1002"]

    warm("1001")
    r = client.patch("/api/v1/templates/tpl", json={"param": {"allow-empty-password": True}}, headers=admin)
    assert r.status_code == 200
    assert ask(client, "1001")[1]["allow-empty-password"] == "true"

    warm("1001")
    r = client.patch(f"/api/v1/domains/{D}", json={"param": {"dial-string": "ds-2"}}, headers=admin)
    assert r.status_code == 200
    assert ask(client, "1001")[2]["dial-string"] == "ds-2"

    warm("1003")
    assert client.delete(f"{base}/1003", headers=admin).status_code == 204
    assert ask(client, "1003")[0] == []

    warm("1001")
    assert client.delete(f"/api/v1/domains/{D}?cascade=true", headers=admin).status_code == 204
    assert ask(client, "1001") is None  # unknown domain: not found


def test_a_rebuild_swap_invalidates(client, dom, private):
    assert ask(client, "1001")[1]["password"] == "pw-0"
    ext = db.session.execute(db.select(Extension).filter_by(name="1001")).scalar_one()
    ext.param = {"password": "rebuilt"}
    db.session.commit()  # SQL only: Redis (and so the cache) still says pw-0
    assert ask(client, "1001")[1]["password"] == "pw-0"
    assert rebuild_domain(D).status == "ok"  # RENAME of the aside hash over the live one
    assert ask(client, "1001")[1]["password"] == "rebuilt"


def test_flushdb_clears_the_cache_and_sql_answers(client, dom, private):
    ask(client, "1001")
    ask(client, "1001")
    redis_lib.Redis.from_url(private.url).flushdb()
    sql = directory().stats["sql"]
    assert ask(client, "1001")[0] == ["1001"]  # from SQL: the domain is gone from Redis
    assert directory().stats["sql"] == sql + 1
    assert repairs.join(10)


def test_sql_and_degraded_answers_are_never_cached(client, dom, private, rdb):
    w = writer()
    w.hdel(keys.exten(D), "1003")
    w.ping()
    for n in range(1, 4):
        assert ask(client, "1003")[0] == ["1003"]  # SQL answers (and queues a repair) each time
        assert directory().stats["sql"] == n
    w.hset(keys.exten(D), "1001", "not json")
    w.ping()
    for _ in range(3):
        assert ask(client, "1001")[1]["password"] == "pw-0"
    assert directory().stats["sql"] == 6 and directory().stats["cache"] == 0
    assert len(for_app().reader.cache()) == 0
    assert repairs.join(10)


def test_redis_restarting_empty(client, dom, private):
    assert ask(client, "1001")[0] == ["1001"]
    assert len(for_app().reader.cache()) == 1
    private.stop()
    assert ask(client, "1001")[0] == ["1001"]  # the drain saw the connection close: SQL answers
    assert for_app().reader.cache() is None and directory().stats["sql"] == 1
    assert ask(client, "1001")[0] == ["1001"]  # breaker open: SQL, nothing cached
    assert directory().stats["sql"] == 2 and directory().stats["cache"] == 0
    private.start()  # back, empty
    directory().down_until = 0.0  # skip the breaker's pause instead of sleeping through it
    assert ask(client, "1001")[0] == ["1001"]  # Redis lost its data: SQL, nothing cached
    assert ask(client, "1001")[0] == ["1001"]
    assert directory().stats["sql"] == 4 and directory().stats["repairs"] == 0
    heal_mirror(private.client())  # what the listener's check and the heal task do
    redis_before = directory().stats["redis"]
    assert ask(client, "1001")[0] == ["1001"]
    assert ask(client, "1001")[0] == ["1001"]
    assert directory().stats["redis"] == redis_before + 1 and directory().stats["cache"] == 1
    assert repairs.join(10)


def test_a_killed_connection_clears_the_cache(client, dom, private):
    ask(client, "1001")
    admin_conn = redis_lib.Redis.from_url(private.url)
    tracked = [c for c in admin_conn.client_list() if "t" in c["flags"]]
    assert len(tracked) == 1  # the hot connection, with tracking on
    admin_conn.client_kill_filter(_id=tracked[0]["id"])
    calls = evalsha_calls(private)
    assert ask(client, "1001")[1]["password"] == "pw-0"
    assert evalsha_calls(private) == calls + 1  # asked again, on a new connection
    assert directory().stats["redis"] == 2 and directory().stats["cache"] == 0


def test_cache_off(client, dom, private, app_ctx, settings):
    import copy

    s = copy.copy(settings)
    s.directory_cache = False
    from app.directory.clients import DirectoryRedis

    app_ctx.config["FSCTI"], saved = s, app_ctx.config["FSCTI"]
    try:
        reader = DirectoryRedis(app_ctx).reader
    finally:
        app_ctx.config["FSCTI"] = saved
    assert reader.cache_entries == 0
    for_app().reader = HotConnection(private.url, 0.25, 0)
    app_ctx.extensions.pop("fscti-directory", None)
    ask(client, "1001")  # loads the script (a first NOSCRIPT counts as a call)
    calls = evalsha_calls(private)
    for _ in range(3):
        ask(client, "1001")
    assert evalsha_calls(private) == calls + 3
    assert for_app().reader.cache() is None


def test_a_fenced_write_has_reached_every_tracking_reader_when_the_writer_returns(private):
    """The race the fence closes: without it Redis may write the writer's reply before the
    reader's invalidation (bench/directory_race.py shows how often)."""
    hot = HotConnection(private.url, 0.25, 10, 60.0)
    w = make_client(private.url, 2.0)
    late = 0
    for i in range(20000):
        hot.execute_command("GET", "fscti:test:fence")  # tracked from now on
        hot.cache().put(("k",), b"v", ("fscti:test:fence",))
        w.set("fscti:test:fence", i)
        fence(w)
        if hot.fresh_cache().get(("k",)) is not None:
            late += 1
    assert late == 0
    hot.reset()
