"""Rebuild: aside + atomic swap; writes during a rebuild are neither lost nor resurrected;
readers never see a missing or half-built hash."""
import json
import threading

import pytest

from app.directory.form import encode
from app.extensions import db
from app.mirror import write
from app.mirror.rebuild import rebuild_all, rebuild_domain
from app.mirror.reconcile import reconcile
from app.mirror.repairs import repairs
from app.models import Domain, Extension, Template
from app.state import keys
from tests.support.factories import domain, template
from tests.support.mirror_state import assert_mirror_matches


@pytest.fixture
def big(app_ctx):
    """Domain big.example with 1200 extensions on a template, every 10th with an alias."""
    repairs.forget()
    d = domain("big.example")
    tpl = template("t", variable={"user_context": "default"}, attribute={"cacheable": "60000"})
    rows = [dict(domain_id=d.id, name=f"{2000 + i}", template_id=tpl.id, enabled=(i % 97 != 0),
                 param={"password": f"pw{i}"}, variable={}, attribute=({"number-alias": f"9{i}"} if i % 10 == 0 else {}),
                 number_alias=(f"9{i}" if i % 10 == 0 else None))
            for i in range(1200)]
    db.session.execute(db.insert(Extension), rows)
    db.session.commit()
    return d


def test_rebuild_from_nothing_and_removes_stray_domains(big, rdb):
    rdb.hset(keys.exten("ghost.example"), "1", "{}")
    rdb.hset(keys.domains(), "ghost2.example", "{}")
    rdb.hset(keys.exten("big.example"), "stray", "{}")
    out = rebuild_all(batch=100)
    assert out.domains[0].status == "ok" and out.domains[0].extensions == 1200
    assert sorted(out.removed_domains) == ["ghost.example", "ghost2.example"]
    assert_mirror_matches(rdb, big)
    assert json.loads(rdb.hget(keys.domains(), "big.example"))["param"] == {"dial-string": "x"}
    assert not rdb.exists(keys.exten("ghost.example"))
    assert not rdb.exists(keys.mirror_rebuild_marker("big.example"), keys.exten_aside("big.example"),
                          keys.mirror_touched("big.example"))
    assert reconcile(repair=False).total == 0


def _ext(name):
    return db.session.execute(db.select(Extension).filter_by(name=name)).scalar_one()


def test_writes_during_a_rebuild_are_neither_lost_nor_resurrected(big, rdb):
    rebuild_all(batch=100)
    tpl = db.session.execute(db.select(Template)).scalar_one()
    done = []

    def writer(n):
        # Batches are read in name order, 100 at a time: 2000-2099 is batch 0, and so on.
        if n == 3:  # batches 0-2 already read, 3 just read but not yet written, 4+ not read
            a = _ext("2005")           # already rebuilt: update
            a.param = {"password": "changed-early"}
            b = _ext("2350")           # read by this very batch, not yet written: update
            b.param = {"password": "changed-in-flight"}
            c = _ext("2010")           # already rebuilt: delete (had alias 910)
            e = _ext("2340")           # in flight: delete (had alias 9340)
            f = _ext("3150")           # not read yet: delete
            g = _ext("2900")           # not read yet: alias change
            g.attribute = {"number-alias": "alias-new"}
            h = _ext("2020")           # already rebuilt: disable
            h.enabled = False
            new_early = Extension(domain=big, name="1999", template=tpl, param={"password": "n1"})
            new_late = Extension(domain=big, name="9999", template=tpl, param={"password": "n2"},
                                 attribute={"number-alias": "late"})
            for x in (c, e, f):
                db.session.delete(x)
            db.session.add_all([new_early, new_late])
            db.session.commit()
            write.mirror_extensions([a, b, g, h, new_early, new_late])
            write.unmirror_extension("big.example", "2010", "910")
            write.unmirror_extension("big.example", "2340", "9340")
            write.unmirror_extension("big.example", "3150", "91150")
            done.append(n)

    res = rebuild_domain("big.example", batch=100, on_batch=writer)
    assert done == [3] and res.status == "ok"
    assert res.written < res.extensions  # the touched names were skipped by the batches
    assert_mirror_matches(rdb, big)
    h = rdb.hgetall(keys.exten("big.example"))
    assert json.loads(h["2005"])["param"]["password"] == "changed-early"
    assert json.loads(h["2350"])["param"]["password"] == "changed-in-flight"
    assert not {"2010", "2340", "3150", "2020"} & set(h)
    assert {"1999", "9999"} <= set(h)
    aliases = rdb.hgetall(keys.alias("big.example"))
    assert aliases["alias-new"] == "2900" and aliases["late"] == "9999"
    assert "910" not in aliases and "9340" not in aliases and "9900" not in aliases
    assert "2020" in rdb.smembers(keys.disabled("big.example"))
    assert reconcile(repair=False).total == 0


def test_readers_never_see_a_missing_or_partial_hash(big, rdb, app):
    from app.directory.lookup import directory

    rebuild_all(batch=100)
    names = [f"{2000 + i}" for i in range(1200) if i % 97 != 0]
    client = app.test_client()
    progress = threading.Condition()
    state = {"reads": 0, "wrong": [], "stop": False}

    def reader():
        i = 0
        while not state["stop"]:
            name = names[(i * 37) % len(names)]
            i += 1
            body = encode([("hostname", "vm"), ("section", "directory"), ("tag_name", "domain"),
                           ("key_name", "name"), ("key_value", "big.example"), ("Event-Name", "REQUEST_PARAMS"),
                           ("action", "sip_auth"), ("key", "id"), ("user", name), ("domain", "big.example")])
            data = client.post("/directory", data=body, content_type="application/x-www-form-urlencoded").data
            if f'<user id="{name}"'.encode() not in data or f"pw{int(name) - 2000}".encode() not in data:
                state["wrong"].append((name, data[:200]))
            with progress:
                state["reads"] += 1
                progress.notify_all()

    def wait_for_reads(n):
        # Let the reader answer a few lookups inside every batch of the rebuild.
        with progress:
            target = state["reads"] + 3
            assert progress.wait_for(lambda: state["reads"] >= target or state["wrong"], timeout=30)

    with app.app_context():
        app.extensions.pop("fscti-directory", None)
        t = threading.Thread(target=reader)
        t.start()
        try:
            for _ in range(3):
                assert rebuild_domain("big.example", batch=100, on_batch=wait_for_reads).status == "ok"
                wait_for_reads(0)  # and right after the swap
        finally:
            state["stop"] = True
            t.join()
        assert state["wrong"] == []
        assert state["reads"] >= 3 * 12 * 3
        assert directory().stats["sql"] == 0  # Redis always had the user: never missing


def test_a_second_rebuild_of_the_same_domain_is_refused(big, rdb):
    seen = []

    def nested(n):
        if n == 0:
            seen.append(rebuild_domain("big.example").status)

    assert rebuild_domain("big.example", batch=500, on_batch=nested).status == "ok"
    assert seen == ["busy"]
    assert_mirror_matches(rdb, big)


def test_domain_deleted_during_rebuild_is_not_resurrected(big, rdb):
    def drop(n):
        if n == 1:
            db.session.delete(db.session.get(Domain, big.id))
            db.session.commit()
            write.unmirror_domain("big.example")

    res = rebuild_domain("big.example", batch=100, on_batch=drop)
    assert res.status == "aborted"
    assert [k for k in rdb.keys("*big.example*") if k != keys.mirror_seq("big.example")] == []


def test_flask_mirror_rebuild_command(big, rdb, app):
    result = app.test_cli_runner().invoke(args=["mirror", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "big.example: ok, 1200 extensions" in result.output
    assert_mirror_matches(rdb, big)
    result = app.test_cli_runner().invoke(args=["mirror", "rebuild", "--domain", "big.example", "--batch", "50"])
    assert result.exit_code == 0 and "big.example: ok" in result.output
