"""Mirror writes around a Redis data loss (app/mirror/lua/guard.lua), with the real Redis, real
SQL, the real API and the heal's own rebuild code:
- after the loss, an API write lands nothing in Redis (no one-extension "domain" for GUIs),
  claims the single heal (one task, however many writes), and a lookup still sees it (SQL);
- while the heal runs, a domain not rebuilt yet gets nothing; one being rebuilt gets its
  changes in the aside copy only, and they survive the swap (the race: update, create,
  delete, alias change during the rebuild);
- a domain created while the heal runs is rebuilt once the generation is `ok`."""
import json

import pytest
import redis as redis_lib

from app.extensions import db
from app.mirror import rebuild as rebuild_mod
from app.mirror import write
from app.mirror.reconcile import reconcile
from app.models import Domain, Extension
from app.state import generation, keys
from tests.support.directory_lookup import BASE, post, users
from tests.support.factories import commit, domain, extension, mk_ext, template

pytestmark = pytest.mark.integration  # runs the heal task's code in this process, on the real broker

A, B = "a.loss.example", "b.loss.example"
HEAL = "fscti.redis.heal"


@pytest.fixture
def broker(settings):
    b = redis_lib.Redis.from_url(settings.celery_broker_url, decode_responses=True)
    b.delete("celery")
    yield b
    b.delete("celery")
    b.close()


def queued(broker, task: str) -> list:
    return [json.loads(m)["headers"] for m in broker.lrange("celery", 0, -1)
            if json.loads(m)["headers"]["task"] == task]


@pytest.fixture
def two(app_ctx):
    """Domains A (300 extensions, every tenth with an alias) and B (3), mirrored."""
    tpl = template("t", param={"allow-empty-password": False})
    for name, n in ((A, 300), (B, 3)):
        d = domain(name)
        db.session.flush()
        for i in range(n):
            extension(d, str(1000 + i), template=tpl, password=f"pw{i}",
                      alias=str(5000 + i) if i % 10 == 0 else None)
    commit(rebuild=True)


def ask(client, dom: str, user: str) -> list[str]:
    resp = post(client, BASE[:4] + [("key_value", dom)] + BASE[5:] +
                [("action", "sip_auth"), ("key", "id"), ("user", user), ("domain", dom)])
    assert resp.status_code == 200
    from lxml import etree

    root = etree.fromstring(resp.data)
    return [u.get("id") for u in users(root)] if root.find("section").get("name") != "result" else []


def password(rdb, dom: str, name: str) -> str | None:
    value = rdb.hget(keys.exten(dom), name)
    return json.loads(value)["param"].get("password") if value else None


def test_api_writes_after_a_loss_land_nothing_and_claim_one_heal(two, rdb, client, tokens,
                                                                 broker):
    from workers.tasks.heal import rebuild_mirror

    assert ask(client, A, "7777") == []  # unknown (a negative SQL verdict, remembered)
    rdb.flushdb()  # Redis lost everything, the generation marker too
    mk_ext(client, tokens["admin"], "7777", domain=A, param={"password": "new"})
    mk_ext(client, tokens["admin"], "7778", domain=B, param={"password": "new2"})
    r = client.patch(f"/api/v1/domains/{A}/extensions/1001", json={"param": {"password": "chg"}},
                     headers=tokens["admin"])
    assert r.status_code == 200, r.json
    # Nothing was written: a GUI sees no domain rather than one of three extensions.
    assert not rdb.exists(keys.exten(A), keys.exten(B), keys.alias(A), keys.domains())
    # The first write claimed the heal and queued it, once; the others saw the claim.
    marker = generation.current(rdb)
    assert marker["state"] == "healing" and marker["reason"] == "lost"
    assert len(queued(broker, HEAL)) == 1
    assert queued(broker, HEAL)[0]["argsrepr"] == f"['{marker['id']}', 'lost']"
    # A lookup after the API call returns sees the new values (from SQL), and the negative
    # verdict remembered before the loss is not trusted.
    assert ask(client, A, "7777") == ["7777"] and ask(client, B, "7778") == ["7778"]
    # The heal's rebuild carries every one of those writes.
    rebuild_mirror(rdb, marker["id"])
    assert generation.healed(rdb, marker["id"])
    assert rdb.hlen(keys.exten(A)) == 301 and rdb.hlen(keys.exten(B)) == 4
    assert password(rdb, A, "7777") == "new" and password(rdb, A, "1001") == "chg"
    assert password(rdb, B, "7778") == "new2"
    assert reconcile(repair=False).total == 0
    assert len(queued(broker, HEAL)) == 1


def test_a_domain_the_heal_has_not_reached_gets_nothing_and_the_rebuild_carries_it(two, rdb,
                                                                                   client, tokens,
                                                                                   broker):
    rdb.flushdb()
    claim = generation.check(rdb)  # the listener's check won the claim
    assert claim is not None
    assert rebuild_mod.rebuild_domain(A).status == "ok"  # the heal has done A, not B yet
    mk_ext(client, tokens["admin"], "7777", domain=A, param={"password": "a"})
    mk_ext(client, tokens["admin"], "7777", domain=B, param={"password": "b"})
    assert password(rdb, A, "7777") == "a"  # A is complete: written as usual
    assert not rdb.exists(keys.exten(B))  # B is not: held back
    assert ask(client, B, "7777") == ["7777"]  # SQL answers it meanwhile
    assert queued(broker, HEAL) == []  # a heal is claimed already: no second one
    assert rebuild_mod.rebuild_domain(B).status == "ok"
    assert password(rdb, B, "7777") == "b" and rdb.hlen(keys.exten(B)) == 4
    assert generation.healed(rdb, claim.generation)
    assert reconcile(repair=False).total == 0


def test_writes_during_the_heals_rebuild_go_aside_and_survive_the_swap(two, rdb, app_ctx):
    rdb.flushdb()
    assert generation.check(rdb) is not None
    d = db.session.execute(db.select(Domain).filter_by(name=A)).scalar_one()
    seen = {}

    def during(n):
        if n != 1:
            return
        # SQL commits, then mirrors, while the rebuild streams A (batches of 50).
        upd = db.session.execute(db.select(Extension).filter_by(domain_id=d.id, name="1002")).scalar_one()
        upd.param = {"password": "during"}
        late = db.session.execute(db.select(Extension).filter_by(domain_id=d.id, name="1290")).scalar_one()
        late.attribute = {"number-alias": "alias-during"}
        late.number_alias = "alias-during"
        gone = db.session.execute(db.select(Extension).filter_by(domain_id=d.id, name="1250")).scalar_one()
        db.session.delete(gone)
        new = Extension(domain=d, name="1999", param={"password": "born"})
        db.session.add(new)
        db.session.commit()
        write.mirror_extensions([upd, late, new], A)
        write.unmirror_extension(A, "1250", "5250")
        # The live hash is still as the loss left it: the writes went to the aside copy.
        seen["live"] = rdb.exists(keys.exten(A), keys.alias(A))

    assert rebuild_mod.rebuild_domain(A, batch=50, on_batch=during).status == "ok"
    assert seen == {"live": 0}
    h = rdb.hgetall(keys.exten(A))
    assert len(h) == 300 and "1250" not in h and "1999" in h
    assert password(rdb, A, "1002") == "during" and password(rdb, A, "1999") == "born"
    aliases = rdb.hgetall(keys.alias(A))
    assert aliases["alias-during"] == "1290" and "5250" not in aliases and "5290" not in aliases
    assert rdb.get(keys.mirror_generation(A)) == generation.current(rdb)["id"]
    assert reconcile(A, repair=False).total == 0


def test_a_domain_created_while_the_heal_runs_is_rebuilt_once_healed(two, rdb, client, tokens,
                                                                     monkeypatch):
    from workers.tasks.heal import heal

    rdb.flushdb()
    claim = generation.check(rdb)
    real = rebuild_mod.rebuild_domain
    made = []

    def rebuild_then_create(name, *a, **kw):
        res = real(name, *a, **kw)
        if not made:  # after the heal read its list of domains
            r = client.post("/api/v1/domains", json={"name": "c.loss.example"},
                            headers=tokens["admin"])
            assert r.status_code == 201, r.json
            mk_ext(client, tokens["admin"], "1001", domain="c.loss.example",
                   param={"password": "c"})
            made.append(rdb.exists(keys.exten("c.loss.example")))
        return res

    monkeypatch.setattr(rebuild_mod, "rebuild_domain", rebuild_then_create)
    out = heal.run(claim.generation, claim.reason)
    assert made == [0]  # held back while the heal ran
    assert generation.current(rdb)["state"] == "ok"
    assert password(rdb, "c.loss.example", "1001") == "c"
    assert out["mirror"]["domains"] == 3
    assert reconcile(repair=False).total == 0


def test_a_heal_claimed_again_resumes_where_the_last_one_stopped(two, rdb):
    from workers.tasks.heal import heal

    rdb.flushdb()
    claim = generation.check(rdb)
    assert rebuild_mod.rebuild_domain(A).status == "ok"  # then that heal's worker died
    out = heal.run(claim.generation, claim.reason)
    assert out["mirror"]["domains"] == 1 and out["mirror"]["extensions"] == 3  # B only
    assert rdb.hlen(keys.exten(A)) == 300 and rdb.hlen(keys.exten(B)) == 3
    assert generation.current(rdb)["state"] == "ok"
    assert reconcile(repair=False).total == 0
