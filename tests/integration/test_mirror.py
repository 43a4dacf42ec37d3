"""The Redis mirror's writes: SPEC §1 shape, alias index, disabled set, deletes, Redis down."""
import json
import logging

import pytest
import redis as redis_lib

from app.extensions import db
from app.mirror import write
from app.mirror.repairs import repairs
from app.models import Extension, Template
from app.state import keys
from tests.support.factories import commit, domain
from tests.support.net import HeldPort


@pytest.fixture
def dom(app_ctx):
    repairs.forget()
    d = domain("example.com")
    commit()
    write.mirror_domain(d)
    return d


def new_ext(dom, name, **kw):
    ext = Extension(domain=dom, name=name, **kw)
    db.session.add(ext)
    db.session.commit()
    return ext


def test_domain_entry(dom, rdb):
    assert json.loads(rdb.hget(keys.domains(), "example.com")) == {
        "realm": "example.com", "param": {"dial-string": "x"}, "variable": {}}


def test_extension_value_has_exactly_the_spec_shape(dom, rdb):
    tpl = Template(name="t", param={"allow-empty-password": False, "auth-acl": "", "password": "tpl"},
                   variable={"sip-force-contact": "NDLB-connectile-dysfunction-2.0"},
                   attribute={"cacheable": "10000"})
    db.session.add(tpl)
    ext = new_ext(dom, "1001", template=tpl, param={"password": "123", "sip-forbid-register": False,
                                                     "auth-acl": None},
                  attribute={"number-alias": "myphone"})
    assert write.mirror_extensions([ext]) == 1
    value = json.loads(rdb.hget(keys.exten("example.com"), "1001"))
    assert value == {
        "param": {"allow-empty-password": False, "password": "123", "sip-forbid-register": False},
        "variable": {"sip-force-contact": "NDLB-connectile-dysfunction-2.0"},
        "attribute": {"cacheable": "10000", "number-alias": "myphone"}}
    assert list(value) == ["param", "variable", "attribute"]
    assert rdb.hget(keys.alias("example.com"), "myphone") == "1001"


def test_alias_change_replaces_the_old_alias(dom, rdb):
    ext = new_ext(dom, "1001", attribute={"number-alias": "5001"})
    write.mirror_extensions([ext])
    ext.attribute = {"number-alias": "6001"}
    db.session.commit()
    write.mirror_extensions([ext])
    assert rdb.hgetall(keys.alias("example.com")) == {"6001": "1001"}
    ext.attribute = {}
    db.session.commit()
    write.mirror_extensions([ext])
    assert rdb.hgetall(keys.alias("example.com")) == {}


def test_alias_taken_over_by_another_extension_is_not_removed_by_the_first(dom, rdb):
    a = new_ext(dom, "1001", attribute={"number-alias": "5000"})
    write.mirror_extensions([a])
    b = new_ext(dom, "1002", attribute={"number-alias": "5000"})
    write.mirror_extensions([b])
    a.attribute = {}
    db.session.commit()
    write.mirror_extensions([a])
    assert rdb.hgetall(keys.alias("example.com")) == {"5000": "1002"}


def test_disable_and_enable(dom, rdb):
    ext = new_ext(dom, "Alice", attribute={"number-alias": "77"})
    write.mirror_extensions([ext])
    assert rdb.hgetall(keys.alias("example.com")) == {"77": "Alice", "alice": "Alice"}
    ext.enabled = False
    db.session.commit()
    write.mirror_extensions([ext])
    assert not rdb.hexists(keys.exten("example.com"), "Alice")
    assert rdb.smembers(keys.disabled("example.com")) == {"Alice"}
    assert rdb.hgetall(keys.alias("example.com")) == {}
    ext.enabled = True
    db.session.commit()
    write.mirror_extensions([ext])
    assert rdb.hexists(keys.exten("example.com"), "Alice")
    assert rdb.smembers(keys.disabled("example.com")) == set()
    assert rdb.hgetall(keys.alias("example.com")) == {"77": "Alice", "alice": "Alice"}


def test_delete_removes_field_alias_and_disabled_entry(dom, rdb):
    ext = new_ext(dom, "1001", attribute={"number-alias": "5001"})
    off = new_ext(dom, "1002", enabled=False)
    write.mirror_extensions([ext, off])
    assert write.unmirror_extension("example.com", "1001", "5001") is True
    assert write.unmirror_extension("example.com", "1002") is True
    assert rdb.hgetall(keys.exten("example.com")) == {}
    assert rdb.hgetall(keys.alias("example.com")) == {}
    assert rdb.smembers(keys.disabled("example.com")) == set()


def test_template_change_remirrors_dependents(dom, rdb):
    tpl = Template(name="t", param={}, variable={"user_context": "a"}, attribute={})
    db.session.add(tpl)
    exts = [new_ext(dom, str(1000 + i), template=tpl) for i in range(25)]
    other = new_ext(dom, "2000", variable={"user_context": "own"})
    write.mirror_extensions(exts + [other])
    tpl.variable = {"user_context": "b"}
    db.session.commit()
    assert write.mirror_template(tpl.id, batch=10) == 25
    values = {k: json.loads(v)["variable"]["user_context"] for k, v in rdb.hgetall(keys.exten("example.com")).items()}
    assert values == {**{str(1000 + i): "b" for i in range(25)}, "2000": "own"}


def test_unmirror_domain_removes_everything(dom, rdb):
    ext = new_ext(dom, "1001", attribute={"number-alias": "5"})
    off = new_ext(dom, "1002", enabled=False)
    write.mirror_extensions([ext, off])
    assert write.unmirror_domain("example.com") is True
    left = [k for k in rdb.keys("*") if "example.com" in k and k != keys.mirror_seq("example.com")]
    assert left == [] and not rdb.hexists(keys.domains(), "example.com")


def test_write_with_a_stale_seq_is_refused(dom, rdb):
    from app.mirror.client import writer

    ext = new_ext(dom, "1001")
    write.mirror_extensions([ext])
    seq = rdb.get(keys.mirror_seq("example.com"))
    write.mirror_extensions([ext])  # a concurrent writer
    assert write.write_ops(writer(), "example.com", [["X", "1001", "", ""]], expect_seq=seq) == -1
    assert rdb.hexists(keys.exten("example.com"), "1001")


def _dead_writer(app, url):
    """Point the mirror's writer at `url`, where nothing answers; returns (clients, live writer)."""
    from app.mirror.client import for_app, make_client

    clients = for_app(app)
    live = clients.writer
    clients.writer = make_client(url, 0.25)
    return clients, live


def test_redis_down_on_write_logs_and_queues_a_repair(dom, app_ctx, settings, caplog):
    broker = redis_lib.Redis.from_url(settings.celery_broker_url, decode_responses=True)
    broker.delete("celery")
    ext = new_ext(dom, "1001")
    dead = HeldPort()  # refuses every connection; nobody else can take the port meanwhile
    clients, live = _dead_writer(app_ctx, dead.url())
    # migrations/env.py's fileConfig() disables loggers that existed before the test migration.
    logging.getLogger("app.mirror.write").disabled = False
    try:
        with caplog.at_level(logging.ERROR, logger="app.mirror.write"):
            assert write.mirror_extensions([ext]) == 0
            assert write.unmirror_extension("example.com", "1002") is False
            assert write.mirror_domain(dom) is False
    finally:
        clients.writer = live
        dead.release()
    assert "SQL is committed, repair queued" in caplog.text
    assert repairs.join(10)
    tasks = [(json.loads(m)["headers"]["task"], json.loads(m)["headers"]["argsrepr"])
             for m in broker.lrange("celery", 0, -1)]
    assert ("fscti.directory.repair_extensions", "['example.com', ['1001']]") in tasks
    assert ("fscti.directory.repair_extensions", "['example.com', ['1002']]") in tasks
    assert ("fscti.directory.rebuild", "['example.com']") in tasks
    broker.delete("celery")
