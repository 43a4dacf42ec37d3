"""FreeSWITCH reads param and variable names ignoring letter case: so does every write path.

Each test is one spelling a case-sensitive check would let through.
"""
import csv
import hashlib
import io
import json

import pytest
from lxml import etree
from sqlalchemy import text

from app.extensions import db
from app.state import keys
from tests.support.directory_api import effective_of, mirrored
from tests.support.factories import mk_domain, mk_ext, mk_template

D = "example.com"
EXT = f"/api/v1/domains/{D}/extensions"


def md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def directory_user(client, user, domain=D):
    """The <user> element /directory serves for a user_call lookup."""
    r = client.post("/directory", data={
        "section": "directory", "tag_name": "domain", "key_name": "name", "key_value": domain,
        "action": "user_call", "key": "id", "user": user, "domain": domain})
    assert r.status_code == 200
    return etree.fromstring(r.data).find("section/domain/users/user")


def xml_items(user, tag):
    return [(p.get("name"), p.get("value")) for p in user.findall(f"{tag}s/{tag}")]


def assert_nowhere(app, rdb, secret):
    """The text is in no domain or extension row of SQL and nowhere in Redis."""
    with app.app_context():
        for table in ("domain", "extension"):
            rows = db.session.execute(text(f"SELECT param, variable FROM {table}")).all()
            assert secret not in repr(rows), (table, rows)
    for key in rdb.scan_iter():
        kind = rdb.type(key)
        value = {"hash": rdb.hgetall, "string": rdb.get, "set": rdb.smembers,
                 "list": lambda k: rdb.lrange(k, 0, -1)}.get(kind, lambda k: "")(key)
        assert secret not in repr(value), (key, value)


@pytest.fixture
def domain(client, admin):
    mk_domain(client, admin)
    return D


def test_a_viewer_never_sees_a_secret_written_in_another_case(client, admin, tokens, rdb,
                                                              domain):
    r = client.put(f"{EXT}/2001", json={"param": {"PASSWORD": "TopSecret-1"},
                                        "variable": {"VM-Password": "9999"}}, headers=admin)
    assert r.status_code == 201, r.json
    assert (r.json["param"], r.json["variable"]) == ({"password": "********"},
                                                     {"vm-password": "********"})
    viewer = tokens["viewer"]
    views = [client.get(f"{EXT}/2001", headers=viewer).json,
             client.get(f"{EXT}/2001/effective", headers=viewer).json,
             client.get(f"{EXT}/export", headers=viewer).json[0]]
    for body in views:
        assert body["param"] == {"password": "********"}
        assert body["variable"] == {"vm-password": "********"}
    exported = client.get(f"{EXT}/export?format=csv", headers=viewer).get_data(as_text=True)
    assert "TopSecret-1" not in exported and "9999" not in exported
    assert next(csv.reader(io.StringIO(exported))) == [
        "name", "template", "enabled", "param.password", "variable.vm-password"]
    # /directory serves the canonical name FreeSWITCH documents, once
    user = directory_user(client, "2001")
    assert xml_items(user, "param") == [("password", "TopSecret-1")]
    assert xml_items(user, "variable") == [("vm-password", "9999")]
    assert mirrored(rdb, D, "2001")["param"] == {"password": "TopSecret-1"}


def test_known_names_fold_unknown_names_keep_their_spelling(client, admin, domain):
    body = {"param": {"Dial-String": "x", "Dial-Var-sip_h_X-Foo": "1", "My-Param": "y"},
            "variable": {"User_Context": "default", "sip_h_X-Foo": "bar"},
            "attribute": {"Cacheable": "60000", "Number-Alias": "5001"}}
    r = client.post(EXT, json={"name": "1001", **body}, headers=admin)
    assert r.status_code == 201, r.json
    assert effective_of(client, admin, D, "1001") == {
        "param": {"dial-string": "x", "dial-var-sip_h_X-Foo": "1", "My-Param": "y"},
        "variable": {"user_context": "default", "sip_h_X-Foo": "bar"},
        "attribute": {"cacheable": "60000", "number-alias": "5001"}}
    # the folded alias is the lookup alias (the column and the Redis alias index)
    assert directory_user(client, "5001").get("id") == "1001"


def test_mixed_case_names_get_their_rules_and_field_messages(client, admin, domain):
    r = client.post(EXT, json={"name": "1001", "param": {
        "A1-Hash": "not-a-hash", "Auth-ACL": "garbage", "Allow-Empty-Password": "maybe",
        "Sip-Forbid-Register": "perhaps", "Password": ""}}, headers=admin)
    assert r.status_code == 422
    errors = r.json["details"]["param"]
    assert set(errors) == {"A1-Hash", "Auth-ACL", "Allow-Empty-Password",
                           "Sip-Forbid-Register", "Password"}
    assert "32 lowercase hex" in errors["A1-Hash"][0]
    assert "garbage" in errors["Auth-ACL"][0]
    assert errors["Allow-Empty-Password"] == ["must be true or false"]
    assert errors["Sip-Forbid-Register"] == ["must be true or false"]
    assert "must not be empty" in errors["Password"][0]
    r = client.post(EXT, json={"name": "1001", "attribute": {
        "ID": "2002", "Type": "pointer", "IP": "10.0.0.1", "Domain-Name": "x",
        "Cacheable": "false", "Number-Alias": "bad alias"}}, headers=admin)
    assert r.status_code == 422
    errors = r.json["details"]["attribute"]
    for name in ("ID", "Type", "IP", "Domain-Name"):
        assert errors[name][0].startswith("reserved"), name
    assert "forever" in errors["Cacheable"][0] and "SIP user part" in errors["Number-Alias"][0]
    # what a template or a domain may not hold, in any case
    r = client.post("/api/v1/templates", json={"name": "t", "param": {"A1-HASH": "0" * 32},
                                               "attribute": {"NUMBER-ALIAS": "5"}}, headers=admin)
    assert r.status_code == 422
    assert set(r.json["details"]) == {"param", "attribute"}
    r = client.patch(f"/api/v1/domains/{D}", json={"param": {"A1-Hash": "0" * 32}}, headers=admin)
    assert r.status_code == 422 and "A1-Hash" in r.json["details"]["param"]
    assert client.get(EXT, headers=admin).json["total"] == 0


@pytest.mark.parametrize("section", ["param", "variable", "attribute"])
def test_two_spellings_of_one_name_are_a_422_naming_both(client, admin, domain, section):
    r = client.post(EXT, json={"name": "1001", section: {"Foo": "1", "foo": "2", "bar": "3"}},
                    headers=admin)
    assert r.status_code == 422
    errors = r.json["details"][section]
    assert set(errors) == {"Foo", "foo"}
    assert "'Foo'" in errors["foo"][0] and "'foo'" in errors["Foo"][0]
    r = client.put("/api/v1/templates/t", json={section: {"x-Y": "1", "X-y": "2"}},
                   headers=admin)
    assert r.status_code == 422 and set(r.json["details"][section]) == {"x-Y", "X-y"}
    if section != "attribute":
        r = client.patch(f"/api/v1/domains/{D}", json={section: {"PASSWORD": "1",
                                                                 "password": "2"}},
                         headers=admin)
        assert r.status_code == 422 and set(r.json["details"][section]) == {"PASSWORD",
                                                                            "password"}


def test_csv_columns_equal_ignoring_case_are_refused(client, admin, domain):
    body = "name,param.Password,param.password\n1001,a,b\n"
    r = client.post(f"{EXT}/import", data=body.encode(),
                    headers={**admin, "Content-Type": "text/csv"})
    assert r.status_code == 422
    assert "param.Password, param.password" in r.json["details"]["header"][0]


def test_the_nearer_owner_wins_whatever_the_case(client, admin, rdb, domain):
    mk_template(client, admin, "agents", param={"Foo": "tpl", "auth-acl": "10.0.0.0/8"},
                variable={"X-Var": "tpl"})
    mk_ext(client, admin, "1001", template="agents", param={"foo": "own"},
           variable={"x-var": None})
    eff = {"param": {"auth-acl": "10.0.0.0/8", "foo": "own"}, "variable": {}, "attribute": {}}
    assert effective_of(client, admin, D, "1001") == eff
    assert mirrored(rdb, D, "1001") == eff
    user = directory_user(client, "1001")
    assert sorted(xml_items(user, "param")) == [("auth-acl", "10.0.0.0/8"), ("foo", "own")]
    assert xml_items(user, "variable") == []
    # a template change re-mirrors its dependents with the same rule
    r = client.patch("/api/v1/templates/agents", json={"param": {"FOO": "tpl2", "foo": None}},
                     headers=admin)
    assert r.status_code == 422  # FOO and foo in one object
    r = client.put("/api/v1/templates/agents", json={"param": {"FOO": "tpl2"},
                                                     "variable": {"x-VAR": "tpl2"}}, headers=admin)
    assert r.status_code == 200, r.json
    assert mirrored(rdb, D, "1001") == {"param": {"foo": "own"}, "variable": {},
                                        "attribute": {}}
    # PATCH of the template: the new spelling replaces the stored one
    client.patch("/api/v1/templates/agents", json={"param": {"foo": "tpl3"}}, headers=admin)
    assert client.get("/api/v1/templates/agents", headers=admin).json["param"] == {"foo": "tpl3"}
    # PATCH of the extension: its own `FOO` null still hides the template's `foo`
    client.patch(f"{EXT}/1001", json={"param": {"FOO": None}}, headers=admin)
    r = client.get(f"{EXT}/1001", headers=admin)
    assert r.json["param"] == {"FOO": None}
    assert mirrored(rdb, D, "1001")["param"] == {}


def test_a1_hash_only_domain_never_keeps_a_password_in_another_case(app, client, admin, rdb):
    mk_domain(client, admin, realm="sip.example.com", a1_hash_only=True)
    r = client.post(EXT, json={"name": "1001", "param": {"Password": "plain-2"}}, headers=admin)
    assert r.status_code == 201, r.json
    assert effective_of(client, admin, D, "1001")["param"] == {
        "a1-hash": md5("1001:sip.example.com:plain-2")}
    # the CSV import
    r = client.post(f"{EXT}/import", data=b"name,param.PassWord\n1002,plain-3\n",
                    headers={**admin, "Content-Type": "text/csv"})
    assert r.status_code == 200, r.json
    assert effective_of(client, admin, D, "1002")["param"] == {
        "a1-hash": md5("1002:sip.example.com:plain-3")}
    # the JSON import
    r = client.post(f"{EXT}/import", json=[{"name": "1003", "param": {"PASSWORD": "plain-6"}}],
                    headers=admin)
    assert r.status_code == 200, r.json
    assert effective_of(client, admin, D, "1003")["param"] == {
        "a1-hash": md5("1003:sip.example.com:plain-6")}
    # a domain-wide password in any case is refused
    r = client.patch(f"/api/v1/domains/{D}", json={"param": {"PASSWORD": "plain-4"}},
                     headers=admin)
    assert r.status_code == 422 and "password" in r.json["details"]["param"]
    # giving both, in two spellings, is refused as it is in one
    r = client.patch(f"{EXT}/1001", json={"param": {"Password": "x", "A1-Hash": "0" * 32}},
                     headers=admin)
    assert r.status_code == 422
    for secret in ("plain-2", "plain-3", "plain-4", "plain-6"):
        assert_nowhere(app, rdb, secret)


def test_switching_a1_hash_only_off_and_on_hashes_every_spelling(app, client, admin, rdb):
    mk_domain(client, admin, a1_hash_only=True)
    client.patch(f"/api/v1/domains/{D}", json={"a1_hash_only": False}, headers=admin)
    mk_ext(client, admin, "1001", param={"Password": "plain-5"})
    r = client.patch(f"/api/v1/domains/{D}", json={"a1_hash_only": True}, headers=admin)
    assert r.status_code == 200, r.json
    assert effective_of(client, admin, D, "1001")["param"] == {
        "a1-hash": md5(f"1001:{D}:plain-5")}
    assert_nowhere(app, rdb, "plain-5")


def test_rows_stored_before_the_fold_are_still_read_ignoring_case(app, client, admin, tokens,
                                                                  rdb, domain):
    """Belt and braces for rows the migration has not rewritten yet: masking, the masked
    value sent back, and the a1 conversion all find `PASSWORD`."""
    mk_ext(client, admin, "1001")
    mk_ext(client, admin, "1002")
    with app.app_context():
        db.session.execute(text("UPDATE extension SET param = :p WHERE name = '1001'"),
                           {"p": json.dumps({"PASSWORD": "old-1"})})
        db.session.execute(text("UPDATE extension SET param = :p WHERE name = '1002'"),
                           {"p": json.dumps({"password": None, "Password": "old-2"})})
        db.session.commit()
    r = client.get(f"{EXT}/1001", headers=tokens["viewer"])
    assert r.json["param"] == {"PASSWORD": "********"}
    r = client.put(f"{EXT}/1001", json={"param": {"password": "********"}}, headers=admin)
    assert r.status_code == 200, r.json
    r = client.get(f"{EXT}/1001?include_secrets=true", headers=admin)
    assert r.json["param"] == {"password": "old-1"}
    r = client.patch(f"/api/v1/domains/{D}", json={"a1_hash_only": True}, headers=admin)
    assert r.status_code == 200, r.json
    assert effective_of(client, admin, D, "1002")["param"] == {"a1-hash": md5(f"1002:{D}:old-2")}
    assert_nowhere(app, rdb, "old-1")
    assert_nowhere(app, rdb, "old-2")


def test_a_redis_value_stays_byte_identical_for_canonical_input(client, admin, rdb, domain):
    """Folding is a no-op on canonical names: nothing changes for existing clients."""
    mk_ext(client, admin, "1001", param={"password": "p"}, variable={"sip_h_X-Foo": "1"})
    assert rdb.hget(keys.exten(D), "1001") == (
        '{"param":{"password":"p"},"variable":{"sip_h_X-Foo":"1"},"attribute":{}}')
