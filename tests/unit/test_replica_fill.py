"""The replica's fills (app/replica/fill.py) against the real test Redis: a full fill holds
exactly what Redis holds (several domains, aliases, disabled names, the meta keys), a file that
held more and other values before is refilled to the same content, the pages come out full, and
a domain refill replaces only that domain."""
import json

import redis as redis_lib

from app.replica import fill, store
from app.state import keys

DOMAINS = ["a.example", "a.example.org", "b.example", "z.example"]


def _load(client, domains=DOMAINS, users=300):
    """Mirror-shaped keys for `domains`: `users` extensions each, one in three with an alias,
    one in seven disabled."""
    for n, d in enumerate(domains):
        client.hset(keys.domains(), d, json.dumps({"name": d, "variable": {"n": n}}))
        extens = {f"{1000 + i}": json.dumps({"param": {"password": f"{d}-{i}"}}) for i in range(users)}
        extens["Bob"] = json.dumps({"param": {"password": "bob"}})
        client.hset(keys.exten(d), mapping=extens)
        client.hset(keys.alias(d), mapping={f"{5000 + i}": f"{1000 + i}" for i in range(0, users, 3)}
                    | {"bob": "Bob"})
        client.sadd(keys.disabled(d), *[f"{1000 + i}" for i in range(0, users, 7)])


def _expected(client, host: bytes, epoch: bytes, applied: int) -> dict:
    """Every key the file should hold (but `Mfilled`), from Redis."""
    want = {}
    for d, value in client.hgetall(keys.domains()).items():
        want[store.domain_key(d)] = value
        name = d.decode()
        want.update({store.exten_key(d, f): v for f, v in client.hgetall(keys.exten(name)).items()})
        want.update({store.alias_key(d, f): v for f, v in client.hgetall(keys.alias(name)).items()})
        want.update({store.disabled_key(d, m): b"" for m in client.smembers(keys.disabled(name))})
    want.update({store.TRUST: store.trust_value(0.0), store.FORMAT_KEY: store.FORMAT,
                 store.HOST: host, store.EPOCH: epoch, store.APPLIED: str(applied).encode()})
    return want


def _content(env) -> dict:
    with env.begin() as txn:
        got = dict(txn.cursor().iternext())
    assert float(got.pop(store.FILLED)) >= 0
    return got


def _client(redis_url):
    return redis_lib.Redis.from_url(redis_url)


def test_a_full_fill_holds_exactly_what_redis_holds(redis_url, tmp_path):
    client = _client(redis_url)
    _load(client)
    env = store.open_writer(str(tmp_path / "r"))
    total, _ = fill.fill_all(client, env, "host-a", b"epoch-1", 42)
    assert total == len(DOMAINS) * 301
    assert _content(env) == _expected(client, b"host-a", b"epoch-1", 42)
    assert not store.meta(env)["trusted"]  # trusted only once process.py renews the lease
    env.close()


def test_a_fuller_file_refilled_holds_the_same_as_a_fresh_one(redis_url, tmp_path):
    client = _client(redis_url)
    _load(client, DOMAINS + ["gone.example"], users=900)
    old = store.open_writer(str(tmp_path / "old"))
    fill.fill_all(client, old, "host-a", b"epoch-0", 7)
    with old.begin(write=True) as txn:  # and keys no fill writes, before and after each kind
        for k in (b"0", b"B", b"Mzzz", b"Zlast", store.exten_key(b"a.example", b"ghost")):
            txn.put(k, b"stale")
    client.flushdb()
    _load(client)
    client.hset(keys.exten("b.example"), "1001", json.dumps({"param": {"password": "changed"}}))
    fill.fill_all(client, old, "host-b", b"epoch-1", 9)
    fresh = store.open_writer(str(tmp_path / "fresh"))
    fill.fill_all(client, fresh, "host-b", b"epoch-1", 9)
    want = _expected(client, b"host-b", b"epoch-1", 9)
    assert _content(old) == want == _content(fresh)
    old.close()
    fresh.close()


def test_the_pages_of_a_full_fill_are_full(redis_url, tmp_path):
    """Written in key order, the leaf pages hold data for ≥ 90 % of their room (HSCAN order
    left them about two thirds full)."""
    client = _client(redis_url)
    _load(client, ["big.example"], users=20000)
    env = store.open_writer(str(tmp_path / "r"))
    fill.fill_all(client, env, "host-a", b"e", 0)
    stat = env.stat()
    with env.begin() as txn:
        used = sum(len(k) + len(v) + 8 + 2 for k, v in txn.cursor().iternext())  # node header, index
    assert used / (stat["leaf_pages"] * (stat["psize"] - 16)) >= 0.9
    env.close()


def test_a_domain_refill_replaces_only_that_domain(redis_url, tmp_path):
    client = _client(redis_url)
    _load(client)
    env = store.open_writer(str(tmp_path / "r"))
    fill.fill_all(client, env, "host-a", b"e", 3)
    client.hdel(keys.exten("b.example"), "1002")
    client.hset(keys.exten("b.example"), "new", b"{}")
    client.hset(keys.alias("b.example"), "7777", "new")
    client.srem(keys.disabled("b.example"), "1000")
    client.hset(keys.exten("a.example"), "1001", b"not refilled")  # another domain: the feed's job
    assert fill.fill_domain(client, env, b"b.example") == 301
    want = _expected(client, b"host-a", b"e", 3)
    want[store.exten_key(b"a.example", b"1001")] = json.dumps({"param": {"password": "a.example-1"}}).encode()
    assert _content(env) == want
    env.close()


def test_names_scanned_twice_are_written_once():
    assert list(fill._in_order([b"c", b"b", b"a", b"b"], 2)) == [[b"a", b"b"], [b"c"]]
    assert list(fill._in_order([b"b", b"a", b"b", b"c", b"a"], 3)) == [[b"a", b"b", b"c"]]
    assert list(fill._in_order([b"x"] * 5, 2)) == [[b"x"]]
    assert list(fill._in_order([], 2)) == []
