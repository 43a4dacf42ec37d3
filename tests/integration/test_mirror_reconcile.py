"""Reconcile: finds and repairs every kind of drift, never overwrites a concurrent write."""
import json

import pytest

from app.extensions import db
from app.mirror import write
from app.mirror import reconcile as reconcile_mod
from app.mirror.rebuild import rebuild_domain
from app.mirror.reconcile import reconcile
from app.mirror.repairs import repairs
from app.models import Extension
from app.state import keys
from tests.support.factories import commit, domain, extension, template
from tests.support.mirror_state import assert_mirror_matches

D = "rc.example"


@pytest.fixture
def dom(app_ctx):
    repairs.forget()
    d = domain(D, variable={"v": "1"})
    tpl = template("t")
    for i in range(30):
        extension(d, f"{100 + i}", template=tpl, enabled=(i != 7), password=f"p{i}",
                  alias=f"a{i}" if i % 5 == 0 else None)
    extension(d, "Mixed", password="m")
    commit(rebuild=True)
    return d


def ext(name):
    return db.session.execute(db.select(Extension).filter_by(name=name)).scalar_one()


def test_no_drift_after_rebuild(dom):
    r = reconcile(repair=False)
    assert r.total == 0 and r.checked == 31


def test_every_kind_of_drift_is_reported_then_repaired(dom, rdb):
    e = ext("101")
    e.param = {"password": "lost-write"}  # committed, mirror never ran
    db.session.commit()
    rdb.hdel(keys.exten(D), "102")  # missing
    rdb.hset(keys.exten(D), "ghost", "{}")  # stray field
    rdb.hset(keys.exten(D), "107", "{}")  # a disabled extension visible
    rdb.srem(keys.disabled(D), "107")  # ... and not listed
    rdb.sadd(keys.disabled(D), "nobody")  # stray disabled entry
    rdb.hset(keys.alias(D), "zzz", "103")  # alias pointing at an extension without it
    rdb.hdel(keys.alias(D), "a5")  # alias index lost
    rdb.hset(keys.exten(D), "104", json.dumps({"param": {"password": "p4"}, "variable": {},
                                               "attribute": {}}))  # wrong value
    rdb.hset(keys.domains(), D, json.dumps({"realm": D, "param": {}, "variable": {}}))  # wrong domain
    rdb.hset(keys.domains(), "gone.example", "{}")  # stray domain
    rdb.hset(keys.exten("gone2.example"), "1", "{}")

    check = reconcile(repair=False)
    assert dict(check.drift) == {"wrong": 2, "missing": 1, "stray": 1, "disabled_visible": 1,
                                 "stray_disabled": 1, "alias_stray": 1, "alias_missing": 1,
                                 "domain_wrong": 1, "stray_domain": 2}
    assert check.repaired == 0
    assert {(i["kind"], i["name"]) for i in check.sample} >= {("wrong", "101"), ("missing", "102"),
                                                               ("stray", "ghost"), ("alias_stray", "zzz")}
    rep = reconcile()
    assert rep.total == check.total and rep.busy == 0 and rep.repaired >= check.total
    assert reconcile(repair=False).total == 0
    assert_mirror_matches(rdb, dom)
    assert json.loads(rdb.hget(keys.exten(D), "101"))["param"]["password"] == "lost-write"
    assert json.loads(rdb.hget(keys.domains(), D))["variable"] == {"v": "1"}
    assert not rdb.hexists(keys.domains(), "gone.example") and not rdb.exists(keys.exten("gone2.example"))


def test_disabled_unlisted_is_repaired(dom, rdb):
    rdb.srem(keys.disabled(D), "107")
    assert dict(reconcile(repair=False).drift) == {"disabled_unlisted": 1}
    reconcile()
    assert rdb.sismember(keys.disabled(D), "107")


def test_flushed_redis_is_rebuilt(dom, rdb):
    rdb.flushdb()
    r = reconcile()
    assert r.drift["domain_missing"] == 1 and r.drift["missing"] == 31
    assert reconcile(repair=False).total == 0
    assert_mirror_matches(rdb, dom)


def test_repair_never_resurrects_a_concurrent_delete(dom, rdb, monkeypatch):
    rdb.hdel(keys.exten(D), "110")  # drift: reconcile will want to write 110 back
    real = reconcile_mod.fetch_entries
    calls = []

    def fetch_then_api_deletes(conn, domain_id, names, templates):
        fresh = real(conn, domain_id, names, templates)
        if not calls:  # between the repair's SQL read and its Redis write, the API deletes 110
            with db.engine.begin() as c:
                c.execute(db.delete(Extension).where(Extension.name == "110"))
            write.unmirror_extension(D, "110", "a10")
        calls.append(names)
        return fresh

    monkeypatch.setattr(reconcile_mod, "fetch_entries", fetch_then_api_deletes)
    r = reconcile()
    assert len(calls) == 2  # the first write was refused (seq moved) and retried on fresh SQL
    assert dict(r.drift) == {"missing": 1}  # 110 was never written back (then found as a stray)
    assert r.busy == 0
    assert not rdb.hexists(keys.exten(D), "110")
    assert "a10" not in rdb.hgetall(keys.alias(D))


def test_repair_never_overwrites_a_newer_value(dom, rdb, monkeypatch):
    rdb.hset(keys.exten(D), "111", "{}")  # wrong value
    real = reconcile_mod.fetch_entries
    calls = []

    def fetch_then_api_updates(conn, domain_id, names, templates):
        fresh = real(conn, domain_id, names, templates)
        if not calls:
            e = ext("111")
            e.param = {"password": "newest"}
            db.session.commit()
            write.mirror_extensions([e])
        calls.append(names)
        return fresh

    monkeypatch.setattr(reconcile_mod, "fetch_entries", fetch_then_api_updates)
    reconcile()
    assert json.loads(rdb.hget(keys.exten(D), "111"))["param"]["password"] == "newest"


def test_domain_under_rebuild_is_skipped(dom, rdb):
    seen = []
    rdb.hdel(keys.exten(D), "102")

    def during(n):
        seen.append(reconcile(D, repair=True).skipped_domains)

    assert rebuild_domain(D, batch=10, on_batch=during).status == "ok"
    assert seen[0] == [D]
    assert rdb.hexists(keys.exten(D), "102")


def test_flask_mirror_check_command(dom, rdb, app):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["mirror", "check"])
    assert ok.exit_code == 0 and "no drift" in ok.output
    rdb.hdel(keys.exten(D), "102")
    bad = runner.invoke(args=["mirror", "check"])
    assert bad.exit_code == 1 and "missing: 1" in bad.output and "102@rc.example" in bad.output
    as_json = runner.invoke(args=["mirror", "check", "--json"])
    assert json.loads(as_json.output)["drift"] == {"missing": 1}
    fixed = runner.invoke(args=["mirror", "check", "--repair"])
    assert fixed.exit_code == 0 and "repaired 1" in fixed.output
    assert runner.invoke(args=["mirror", "check"]).exit_code == 0


def test_drift_and_repairs_are_counted_on_metrics(dom, rdb, client):
    from prometheus_client import REGISTRY

    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = (value("fscti_mirror_drift_total", kind="missing"), value("fscti_mirror_repaired_total"))
    rdb.hdel(keys.exten(D), "102", "103")  # two extensions missing from the mirror
    r = reconcile()
    assert r.drift["missing"] == 2 and r.repaired >= 2
    assert value("fscti_mirror_drift_total", kind="missing") - before[0] == 2
    assert value("fscti_mirror_repaired_total") - before[1] == r.repaired
    assert b"fscti_mirror_drift_total{kind=\"missing\"}" in client.get("/metrics").data
