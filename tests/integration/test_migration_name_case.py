"""Migration 0002 on rows written before names were folded, then the reconcile job: SQL,
`cti_exten@<domain>` and the /directory answer all end up canonical, no plain password left in
an a1-hash-only domain."""
import hashlib
import io
import json
import logging
import sys

import flask_migrate
import pytest
from lxml import etree

from app.directory.clients import for_app
from app.extensions import db
from app.mirror.rebuild import rebuild_all
from app.mirror.reconcile import reconcile
from app.mirror.repairs import repairs
from app.models import Domain, Extension, Template
from app.models.domain import DEFAULT_DIAL_STRING
from app.state import keys
from tests.support.mirror_state import assert_mirror_matches

P, A = "127.0.0.1", "a1.example"


def md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


@pytest.fixture
def old_rows(app_ctx):
    """Rows as the case-sensitive code stored them, mirrored as it mirrored them."""
    repairs.forget()
    app_ctx.extensions.pop("fscti-directory", None)
    for_app(app_ctx).reader.reset()
    tpl = Template(name="t", param={"Auth-ACL": "10.0.0.0/8"},
                   variable={"User_Context": "default"}, attribute={"Cacheable": "60000"})
    bad_tpl = Template(name="bad", param={}, variable={}, attribute={"Number-Alias": "9"})
    plain = Domain(name=P, realm=P, param={"Dial-String": DEFAULT_DIAL_STRING}, variable={})
    a1 = Domain(name=A, realm="realm.a1", a1_hash_only=True, param={"Password": "dom-pw"},
                variable={})
    db.session.add_all([tpl, bad_tpl, plain, a1])
    for dom, name, kw in (
            (plain, "1001", dict(template=tpl, param={"PASSWORD": "TopSecret-1"},
                                 variable={"VM-Password": "9999"},
                                 attribute={"Number-Alias": "5001"})),
            (plain, "1002", dict(param={"password": "canon", "Password": "other"})),
            (plain, "1003", dict(param={"password": None, "PassWord": "valued"})),
            (plain, "1004", dict(attribute={"Number-Alias": "1001"})),  # another's name
            (a1, "2001", dict(param={"password": None, "Password": "plain-2"})),
            (a1, "2002", dict(param={"password": None})),  # FreeSWITCH used the domain's
            (a1, "2003", dict(param={"password": None, "a1-hash": "f" * 32}))):
        db.session.add(Extension(domain=dom, name=name, **kw))
    db.session.commit()
    rebuild_all()


def run_0002() -> str:
    """Alembic's own run of revision 0002 on this database (whatever follows it); returns
    what it logged. env.py's fileConfig puts a console handler bound to sys.stderr on the root
    logger: stderr is a buffer meanwhile, and the root's handlers are put back afterwards."""
    db.session.remove()
    root = logging.getLogger()
    handlers, level, stderr = root.handlers[:], root.level, sys.stderr
    sys.stderr = buf = io.StringIO()
    try:
        flask_migrate.stamp(revision="0001")
        flask_migrate.upgrade(revision="0002")
        flask_migrate.stamp(revision="head")
    finally:
        sys.stderr = stderr
        root.handlers[:] = handlers
        root.setLevel(level)
    return buf.getvalue()


def ext(domain: str, name: str) -> Extension:
    return db.session.execute(db.select(Extension).join(Domain).where(
        Domain.name == domain, Extension.name == name)).scalar_one()


def redis_dump(rdb) -> str:
    return json.dumps({k: rdb.hgetall(k) for k in rdb.scan_iter() if rdb.type(k) == "hash"})


def directory_user(client, user, domain):
    r = client.post("/directory", data={
        "section": "directory", "tag_name": "domain", "key_name": "name", "key_value": domain,
        "action": "sip_auth", "key": "id", "user": user, "domain": domain})
    doc = etree.fromstring(r.data)
    return doc.find("section/domain"), doc.find("section/domain/users/user")


def test_migration_then_reconcile_repairs_sql_redis_and_the_directory(old_rows, app_ctx, rdb):
    assert "plain-2" in redis_dump(rdb) and "dom-pw" in redis_dump(rdb)  # the leak, before
    text = run_0002()
    db.session.expire_all()

    tpl = db.session.execute(db.select(Template).filter_by(name="t")).scalar_one()
    assert (tpl.param, tpl.variable, tpl.attribute) == (
        {"auth-acl": "10.0.0.0/8"}, {"user_context": "default"}, {"cacheable": "60000"})
    bad = db.session.execute(db.select(Template).filter_by(name="bad")).scalar_one()
    assert bad.attribute == {"Number-Alias": "9"}  # a template may not hold number-alias
    dom = db.session.execute(db.select(Domain).filter_by(name=P)).scalar_one()
    assert dom.param == {"dial-string": DEFAULT_DIAL_STRING}
    assert db.session.execute(db.select(Domain).filter_by(name=A)).scalar_one().param == {}

    e = ext(P, "1001")
    assert (e.param, e.variable, e.attribute, e.number_alias) == (
        {"password": "TopSecret-1"}, {"vm-password": "9999"}, {"number-alias": "5001"}, "5001")
    assert ext(P, "1002").param == {"password": "canon"}  # the canonical spelling wins
    assert ext(P, "1003").param == {"password": "valued"}  # a value beats a null
    e = ext(P, "1004")
    assert (e.attribute, e.number_alias) == ({"Number-Alias": "1001"}, None)
    assert ext(A, "2001").param == {"a1-hash": md5("2001:realm.a1:plain-2"), "password": None}
    assert ext(A, "2002").param == {"a1-hash": md5("2002:realm.a1:dom-pw"), "password": None}
    assert ext(A, "2003").param == {"a1-hash": "f" * 32, "password": None}

    assert "param 'PASSWORD' renamed 'password'" in text
    assert "param 'password' kept as 'password', dropped 'Password'" in text
    assert "'Number-Alias' left as is" in text and "domain-wide plain password removed" in text
    assert "hashed 2 plain password(s)" in text

    # the mirror is still the old one until the reconcile job compares it with SQL
    assert "plain-2" in redis_dump(rdb)
    report = reconcile()
    assert report.drift["wrong"] == 5 and report.drift["domain_wrong"] == 2, report.as_dict()
    for name in (P, A):
        assert_mirror_matches(rdb, db.session.execute(
            db.select(Domain).filter_by(name=name)).scalar_one())
    dump = redis_dump(rdb)
    assert "plain-2" not in dump and "dom-pw" not in dump and "PASSWORD" not in dump
    assert rdb.hget(keys.alias(P), "5001") == "1001"
    assert reconcile(repair=False).total == 0

    client = app_ctx.test_client()
    domain, user = directory_user(client, "5001", P)
    assert user.get("id") == "1001" and user.get("cacheable") == "60000"
    assert [(p.get("name"), p.get("value")) for p in user.findall("params/param")] == [
        ("auth-acl", "10.0.0.0/8"), ("password", "TopSecret-1")]
    assert domain.find("params/param").get("name") == "dial-string"
    _, user = directory_user(client, "2001", A)
    assert [(p.get("name"), p.get("value")) for p in user.findall("params/param")] == [
        ("a1-hash", md5("2001:realm.a1:plain-2"))]


def test_migration_is_idempotent(old_rows, app_ctx):
    run_0002()
    text = run_0002()
    assert "rewrote 0 domain(s), 0 template(s), 0 extension(s); hashed 0" in text, text
