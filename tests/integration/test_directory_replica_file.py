"""The replica file (app/replica/store.py, fill.py, process.py) and its reader
(app/directory/replica.py), in this process against the real Redis and SQL: what a fill and
the feed put in the file, its meta and lease, and that the reader answers exactly what the
lookup script answers from Redis."""
import json
import subprocess
import sys
import time

import pytest
import redis as redis_lib

from app.directory.lookup import LOOKUP
from app.directory.replica import ReplicaReader
from app.mirror import write
from app.mirror.client import writer
from app.mirror.rebuild import rebuild_domain
from app.replica import store
from app.replica.process import Replica
from app.state import keys
from tests.support.factories import commit, domain, extension

pytestmark = pytest.mark.integration
D = "file.example"


@pytest.fixture
def filled(app_ctx, settings, tmp_path):
    """Domain file.example in SQL and Redis; a replica filled from it and trusted."""
    d = domain(D, variable={"marker": "m0"})
    extension(d, "1001", password="a", alias="501")
    extension(d, "Bob", password="b")
    extension(d, "1003", password="c", enabled=False)
    domain("other.example")
    commit(rebuild=True)
    client = redis_lib.Redis.from_url(settings.redis_url)
    r = Replica(client, str(tmp_path / "replica"), "host-a", lease=2.0)
    r.fill_all()
    r.renew()
    yield r, ReplicaReader(str(tmp_path / "replica"), r.env), client
    r.env.close()


def script_reply(client, dom: str, user: str, mode: str):
    """What the lookup script answers from Redis, as the reader's tuple."""
    out = client.eval(LOOKUP, 4, keys.domains(), keys.exten(dom), keys.alias(dom), keys.disabled(dom),
                      dom, user, mode)
    return tuple(v.decode() if isinstance(v, bytes) else v for v in out)


CASES = [(D, u, m) for u in ("", "1001", "501", "bob", "BOB", "Bob", "1003", "ghost", "ÄB")
         for m in ("id", "alias")] + [("nowhere.example", "1001", "id"), ("other.example", "1001", "id")]


def test_the_reader_answers_what_the_lookup_script_answers(filled):
    _, reader, client = filled
    for case in CASES:
        assert reader.lookup(*case) == script_reply(client, *case), case
    assert reader.lookup(D, "501", "alias")[2] == "1001"
    assert reader.lookup(D, "1003", "id")[0] == 3  # disabled


def test_meta_names_the_host_the_epoch_and_the_feed_entry_applied(filled):
    r, _, client = filled
    m = store.meta(r.env)
    assert m["format"] == store.FORMAT and m["host"] == b"host-a"
    assert m["epoch"] == client.get(keys.replica_epoch()) and m["epoch"]
    assert m["applied"] == int(client.get(keys.replica_counter()) or 0)
    assert m["trusted"] and m["boot"] == store.BOOT
    assert 0 < m["trusted_until"] - time.monotonic() <= 2.0
    assert m["fill_seconds"] is not None
    assert client.pttl(keys.replica_lease("host-a")) > 0
    assert client.smembers(keys.replica_hosts()) == {keys.replica_lease("host-a").encode()}
    with r.env.begin() as txn:
        assert json.loads(txn.get(store.exten_key(D.encode(), b"Bob")))["param"]["password"] == "b"
        assert txn.get(store.alias_key(D.encode(), b"501")) == b"1001"
        assert txn.get(store.alias_key(D.encode(), b"bob")) == b"Bob"
        assert txn.get(store.disabled_key(D.encode(), b"1003")) == b""
        assert json.loads(txn.get(store.domain_key(D.encode())))["variable"]["marker"] == "m0"


def test_an_expired_lease_or_another_boot_is_not_trusted(filled):
    r, reader, _ = filled
    assert reader.lookup(D, "1001", "id")[0] == 2
    with r.env.begin(write=True) as txn:
        txn.put(store.TRUST, store.trust_value(time.monotonic() - 0.001))
    assert reader.lookup(D, "1001", "id") is None
    with r.env.begin(write=True) as txn:
        txn.put(store.TRUST, store.trust_value(time.monotonic() + 60)[:8] + b"another-boot")
    assert reader.lookup(D, "1001", "id") is None
    assert ReplicaReader(str(r.env.path()) + "-missing").lookup(D, "1001", "id") is None


def test_the_feed_names_each_change_and_the_replica_applies_it(filled):
    r, reader, client = filled
    w = writer()
    value = json.dumps({"param": {"password": "new"}, "variable": {}, "attribute": {"number-alias": "777"}})
    before = int(client.get(keys.replica_counter()))
    assert write.write_ops(w, D, [["U", "1001", value, "777"], ["X", "Bob", "", ""]]) == 2
    entries = client.xrange(keys.replica_feed(), min=f"({r.last_id.decode()}")
    assert [int(f[b"n"]) for _, f in entries] == [before + 1]
    f = entries[0][1]
    assert f[b"t"] == b"w" and f[b"x"] == keys.exten(D).encode()
    assert set(json.loads(f[b"e"])) == {"1001", "Bob"}
    assert {"501", "777", "1001", "bob"} <= set(json.loads(f[b"a"]))
    assert r.step(10) == 1
    for case in CASES:
        assert reader.lookup(*case) == script_reply(client, *case), case
    assert reader.lookup(D, "777", "alias")[2] == "1001" and reader.lookup(D, "501", "alias")[0] == 4
    assert store.meta(r.env)["applied"] == before + 1 == r.applied


def test_a_gap_in_the_feed_means_a_full_refill(filled):
    r, reader, client = filled
    refills = r.refills
    client.incr(keys.replica_counter())  # an entry the replica will never see
    value = json.dumps({"param": {"password": "after-gap"}, "variable": {}, "attribute": {}})
    write.write_ops(writer(), D, [["U", "Bob", value, ""]])
    r.step(10)
    assert r.refills == refills + 1
    assert json.loads(reader.lookup(D, "Bob", "id")[3])["param"]["password"] == "after-gap"
    assert store.meta(r.env)["applied"] == int(client.get(keys.replica_counter()))


def test_a_lost_epoch_means_a_full_refill_and_no_trust_meanwhile(filled):
    r, reader, client = filled
    refills = r.refills
    client.delete(keys.replica_epoch())  # what a Redis that lost its data looks like to the replica
    r.step(10)
    assert r.refills == refills + 1
    assert store.meta(r.env)["epoch"] == client.get(keys.replica_epoch())
    r.step(10)
    assert reader.lookup(D, "1001", "id")[0] == 2


def test_a_rebuild_swap_refills_that_domain(filled, app_ctx):
    from app.extensions import db
    from app.models import Extension

    r, reader, client = filled
    row = db.session.query(Extension).filter_by(name="Bob").one()
    db.session.delete(row)  # SQL only: the mirror learns it from the rebuild
    db.session.commit()
    assert reader.lookup(D, "Bob", "id")[0] == 2
    refills = r.domain_refills
    rebuild_domain(D)  # its swap writes no per-name entry: only the refill can drop Bob
    assert r.step(10) >= 1
    assert r.domain_refills == refills + 1
    assert reader.lookup(D, "Bob", "id") == script_reply(client, D, "Bob", "id") == (4, reader.lookup(D, "", "id")[1])
    for case in CASES:
        assert reader.lookup(*case) == script_reply(client, *case), case


def test_a_domain_delete_drops_it_from_the_file(filled):
    r, reader, client = filled
    write.unmirror_domain(D)
    r.step(10)
    assert reader.lookup(D, "1001", "id") == (0,) == script_reply(client, D, "1001", "id")
    with r.env.begin() as txn:
        assert not [k for k, _ in txn.cursor() if D.encode() in k]


READ_IN_A_CHILD = """
import sys
from app.directory.replica import ReplicaReader
reader = ReplicaReader(sys.argv[1])
print("ready", flush=True)
for line in sys.stdin:  # one lookup per line read
    print(reader.lookup(sys.argv[2], "1001", "id")[0], flush=True)
"""


def test_a_reader_follows_the_file_as_it_grows_past_lmdbs_default_map(filled):
    """A web worker opens the file once; the file then grows (a fill of many extensions)."""
    r, _, _ = filled
    child = subprocess.Popen([sys.executable, "-c", READ_IN_A_CHILD, r.env.path(), D], text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == "ready"
        r.renew()  # the child's start-up may have outlived the lease on a busy host
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "2"  # opened while the file is small
        with r.env.begin(write=True) as txn:
            txn.put(b"Zpadding", b"x" * (24 << 20))  # past LMDB's default 10 MB map
        r.renew()
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "2"
    finally:
        child.stdin.close()
        child.wait(30)


def test_a_writer_that_saw_replicas_vanish_waits_one_lease_once(filled):
    """Redis lost its data (the hosts and the epoch with it): a file may still be trusted
    until its last expiry, so a writer that knew of replicas waits out one lease."""
    from app.replica import fence

    _, _, client = filled
    fence._seen.update(hosts=False, gone_at=None)
    try:
        t0 = time.monotonic()
        fence.after_write(client, lease=0.5)  # host-a has applied everything: no wait
        assert time.monotonic() - t0 < 0.3 and fence._seen["hosts"]
        client.delete(keys.replica_epoch(), keys.replica_hosts())
        t0 = time.monotonic()
        fence.after_write(client, lease=0.5)
        assert time.monotonic() - t0 >= 0.45
        t0 = time.monotonic()
        fence.after_write(client, lease=0.5)  # the lease has passed since: no more waiting
        assert time.monotonic() - t0 < 0.3 and not fence._seen["hosts"]
    finally:
        fence._seen.update(hosts=False, gone_at=None)
