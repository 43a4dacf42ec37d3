"""/api/v1/domains: defaults, CRUD, paging, a1-hash-only, realm changes, cascade, mirror."""
import hashlib
import json

from sqlalchemy import text

from app.extensions import db
from app.models.domain import DEFAULT_DIAL_STRING
from app.state import keys
from tests.support.directory_api import effective_of, flushes, mirrored  # noqa: F401  (flushes: a fixture)
from tests.support.factories import mk_domain, mk_ext, mk_template

URL = "/api/v1/domains"


def test_new_domain_gets_safe_vanilla_defaults(client, admin, rdb):
    r = client.post(URL, json={"name": "PBX.Example.com"}, headers=admin)
    assert r.status_code == 201
    assert r.headers["Location"].endswith("/api/v1/domains/pbx.example.com")
    body = r.json
    assert body["name"] == "pbx.example.com" and body["realm"] == "pbx.example.com"
    assert body["param"] == {"dial-string": DEFAULT_DIAL_STRING, "allow-empty-password": False}
    assert body["variable"] == {"user_context": "default"}
    assert body["a1_hash_only"] is False
    entry = json.loads(rdb.hget(keys.domains(), "pbx.example.com"))
    assert entry["param"]["dial-string"] == DEFAULT_DIAL_STRING
    assert client.get(f"{URL}/PBX.EXAMPLE.COM", headers=admin).json["name"] == "pbx.example.com"


def test_given_params_merge_over_defaults_and_null_removes_one(client, admin):
    body = mk_domain(client, admin, realm="sip.example.com",
                     param={"allow-empty-password": None, "vm-enabled": "true"},
                     variable={"user_context": "agents"})
    assert body["realm"] == "sip.example.com"
    assert body["param"] == {"dial-string": DEFAULT_DIAL_STRING, "vm-enabled": "true"}
    assert body["variable"] == {"user_context": "agents"}


def test_duplicate_and_bad_fields(client, admin):
    mk_domain(client, admin)
    r = client.post(URL, json={"name": "EXAMPLE.com"}, headers=admin)
    assert r.status_code == 409 and r.json["error"] == "conflict"
    r = client.post(URL, json={"name": "bad domain", "realm": "x y", "param": {"a1-hash": "0" * 32}},
                    headers=admin)
    assert r.status_code == 422
    assert set(r.json["details"]) == {"name", "realm", "param"}
    assert "a1-hash" in r.json["details"]["param"]
    r = client.post(URL, json={}, headers=admin)
    assert r.status_code == 422 and "name" in r.json["details"]


def test_unknown_domain_is_404(client, admin):
    for method in ("get", "patch", "delete"):
        r = getattr(client, method)(f"{URL}/nowhere.example", headers=admin,
                                    **({"json": {}} if method == "patch" else {}))
        assert r.status_code == 404, method
        assert r.json["error"] == "not_found"


def test_list_is_paged_and_searchable(client, admin):
    for i in range(5):
        mk_domain(client, admin, f"d{i}.example.com")
    mk_domain(client, admin, "other.net")
    r = client.get(URL, query_string={"per_page": 2, "page": 2}, headers=admin)
    assert r.status_code == 200
    body = r.json
    assert body["total"] == 6 and body["pages"] == 3 and body["page"] == 2
    assert [d["name"] for d in body["items"]] == ["d2.example.com", "d3.example.com"]
    assert body["links"]["next"].endswith("page=3&per_page=2")
    assert body["links"]["prev"].endswith("page=1&per_page=2")
    r = client.get(URL, query_string={"q": "EXAMPLE"}, headers=admin)
    assert r.json["total"] == 5
    r = client.get(URL, query_string={"q": "%"}, headers=admin)
    assert r.json["total"] == 0
    for bad in ({"per_page": 1001}, {"page": 0}, {"per_page": "x"}, {"page": 10**30}):
        assert client.get(URL, query_string=bad, headers=admin).status_code == 422, bad


def test_put_creates_then_replaces_idempotently(client, admin):
    r = client.put(f"{URL}/a.example.com", json={"param": {"x-y": "1"}}, headers=admin)
    assert r.status_code == 201
    first = r.json
    r = client.put(f"{URL}/a.example.com", json={"param": {"x-y": "1"}}, headers=admin)
    assert r.status_code == 200 and r.json == first  # nothing changed, not even updated_at
    r = client.put(f"{URL}/a.example.com", json={"realm": "r.example.com"}, headers=admin)
    assert r.json["param"] == {"dial-string": DEFAULT_DIAL_STRING, "allow-empty-password": False}
    assert r.json["realm"] == "r.example.com"
    r = client.put(f"{URL}/a.example.com", json={"name": "b.example.com"}, headers=admin)
    assert r.status_code == 422 and "name" in r.json["details"]


def test_patch_merges_and_null_deletes(client, admin, rdb):
    mk_domain(client, admin, param={"vm-enabled": "true"})
    r = client.patch(f"{URL}/example.com", json={"param": {"vm-enabled": None, "x": 1}},
                     headers=admin)
    assert r.status_code == 200
    assert r.json["param"] == {"dial-string": DEFAULT_DIAL_STRING,
                               "allow-empty-password": False, "x": 1}
    assert json.loads(rdb.hget(keys.domains(), "example.com"))["param"] == r.json["param"]


def test_domain_change_remirrors_its_extensions_and_flushes_cached_ones(client, admin, rdb,
                                                                         flushes):
    mk_domain(client, admin)
    mk_ext(client, admin, "1001", param={"password": "a"})
    mk_ext(client, admin, "1002", attribute={"cacheable": "60000", "number-alias": "5002"})
    flushes_before = flushes()
    assert flushes_before == [("example.com", ["1002", "5002"])]
    rdb.hdel(keys.exten("example.com"), "1001")  # drift: the re-mirror must repair it
    r = client.patch(f"{URL}/example.com", json={"variable": {"user_context": "agents"}},
                     headers=admin)
    assert r.status_code == 200
    for name in ("1001", "1002"):
        assert mirrored(rdb, "example.com", name) == effective_of(client, admin, "example.com", name)
    assert flushes() == [("example.com", ["1002", "5002"])] * 2


def test_delete_refuses_a_domain_with_extensions_unless_cascade(client, admin, rdb):
    mk_domain(client, admin)
    mk_ext(client, admin, "1001", attribute={"number-alias": "5001"})
    r = client.delete(f"{URL}/example.com", headers=admin)
    assert r.status_code == 409 and "cascade=true" in r.json["message"]
    assert mirrored(rdb, "example.com", "1001") is not None
    r = client.delete(f"{URL}/example.com", query_string={"cascade": "true"}, headers=admin)
    assert r.status_code == 204
    assert not rdb.exists(keys.exten("example.com"), keys.alias("example.com"))
    assert rdb.hget(keys.domains(), "example.com") is None
    assert client.get(f"{URL}/example.com", headers=admin).status_code == 404
    mk_domain(client, admin)  # the name is free again, with no leftover extension
    r = client.get(f"{URL}/example.com/extensions", headers=admin)
    assert r.json["total"] == 0


def test_secrets_in_domain_params_are_masked(client, admin, tokens):
    mk_domain(client, admin, param={"vm-password": "9999"})
    assert client.get(f"{URL}/example.com", headers=admin).json["param"]["vm-password"] == "********"
    r = client.get(f"{URL}/example.com?include_secrets=true", headers=tokens["viewer"])
    assert r.status_code == 403
    r = client.get(f"{URL}/example.com?include_secrets=true", headers=admin)
    assert r.json["param"]["vm-password"] == "9999"
    # GET → PUT with the mask keeps the stored secret
    body = client.get(f"{URL}/example.com", headers=admin).json
    r = client.put(f"{URL}/example.com", json={k: body[k] for k in ("realm", "param", "variable")},
                   headers=admin)
    assert r.status_code == 200
    r = client.get(f"{URL}/example.com?include_secrets=true", headers=admin)
    assert r.json["param"]["vm-password"] == "9999"


def md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def stored_params(app, domain_name):
    with app.app_context():
        rows = db.session.execute(text(
            "SELECT e.name, e.param FROM extension e JOIN domain d ON d.id = e.domain_id "
            "WHERE d.name = :d ORDER BY e.name"), {"d": domain_name}).all()
        db.session.remove()
    return {n: (json.loads(p) if isinstance(p, str) else p) for n, p in rows}


def test_a1_hash_only_never_keeps_a_plain_password(app, client, admin, rdb):
    mk_domain(client, admin, realm="sip.example.com", a1_hash_only=True)
    mk_template(client, admin, "shared", param={"password": "tpl-pass"})
    mk_ext(client, admin, "1001", param={"password": "s3cret"})
    mk_ext(client, admin, "1002", template="shared")
    stored = stored_params(app, "example.com")
    assert stored["1001"] == {"a1-hash": md5("1001:sip.example.com:s3cret"), "password": None}
    assert stored["1002"] == {"a1-hash": md5("1002:sip.example.com:tpl-pass"), "password": None}
    raw = rdb.hgetall(keys.exten("example.com"))
    assert "s3cret" not in json.dumps(raw) and "tpl-pass" not in json.dumps(raw)
    assert mirrored(rdb, "example.com", "1002")["param"] == {
        "a1-hash": md5("1002:sip.example.com:tpl-pass")}
    # a later template password never reaches this domain's directory
    client.patch("/api/v1/templates/shared", json={"param": {"password": "new-pass"}}, headers=admin)
    assert "new-pass" not in json.dumps(rdb.hgetall(keys.exten("example.com")))
    # a new password through PATCH is hashed too
    client.patch(f"{URL}/example.com/extensions/1001", json={"param": {"password": "other"}},
                 headers=admin)
    assert mirrored(rdb, "example.com", "1001")["param"] == {
        "a1-hash": md5("1001:sip.example.com:other")}
    r = client.patch(f"{URL}/example.com/extensions/1001",
                     json={"param": {"password": "x", "a1-hash": "0" * 32}}, headers=admin)
    assert r.status_code == 422 and "password" in r.json["details"]["param"]
    # GET → new password → PUT: the masked a1-hash sent back does not clash with the password
    body = client.get(f"{URL}/example.com/extensions/1001", headers=admin).json
    assert body["param"] == {"a1-hash": "********", "password": None}
    body["param"]["password"] = "third"
    r = client.put(f"{URL}/example.com/extensions/1001",
                   json={k: body[k] for k in ("template", "enabled", "param", "variable",
                                              "attribute")}, headers=admin)
    assert r.status_code == 200, r.json
    assert mirrored(rdb, "example.com", "1001")["param"] == {
        "a1-hash": md5("1001:sip.example.com:third")}
    r = client.patch(f"{URL}/example.com", json={"param": {"password": "domain-wide"}}, headers=admin)
    assert r.status_code == 422 and "password" in r.json["details"]["param"]


def test_turning_a1_hash_only_on_hashes_existing_passwords(app, client, admin, rdb):
    mk_domain(client, admin)
    mk_ext(client, admin, "1001", param={"password": "s3cret", "auth-acl": "10.0.0.0/8"})
    mk_ext(client, admin, "1002")
    r = client.patch(f"{URL}/example.com", json={"a1_hash_only": True}, headers=admin)
    assert r.status_code == 200 and r.json["a1_hash_only"] is True
    stored = stored_params(app, "example.com")
    assert stored["1001"] == {"a1-hash": md5("1001:example.com:s3cret"), "password": None,
                              "auth-acl": "10.0.0.0/8"}
    assert stored["1002"] == {"password": None}
    assert "s3cret" not in json.dumps(rdb.hgetall(keys.exten("example.com")))


def test_turning_a1_hash_only_on_converts_in_batches_template_passwords_too(app, client, admin,
                                                                           rdb, monkeypatch):
    """Several keyset batches (one ending exactly on the boundary), extensions of another
    domain untouched, a template's password hashed for the users that inherit it."""
    from app.services import domain as domain_service

    monkeypatch.setattr(domain_service, "CONVERT_BATCH", 2)
    mk_template(client, admin, "agents", param={"password": "from-template"})
    mk_domain(client, admin)
    mk_domain(client, admin, "other.example.com")
    for name in ("1001", "1002", "1003", "1004"):
        mk_ext(client, admin, name, param={"password": f"pw-{name}"})
    mk_ext(client, admin, "1005", template="agents")
    mk_ext(client, admin, "1001", domain="other.example.com", param={"password": "kept"})
    r = client.patch(f"{URL}/example.com", json={"a1_hash_only": True}, headers=admin)
    assert r.status_code == 200, r.json
    stored = stored_params(app, "example.com")
    for name in ("1001", "1002", "1003", "1004"):
        assert stored[name] == {"a1-hash": md5(f"{name}:example.com:pw-{name}"), "password": None}
    assert stored["1005"] == {"a1-hash": md5("1005:example.com:from-template"), "password": None}
    assert stored_params(app, "other.example.com") == {"1001": {"password": "kept"}}
    mirrored = json.dumps(rdb.hgetall(keys.exten("example.com")))
    assert "pw-100" not in mirrored and "from-template" not in mirrored
    # turning it on again changes nothing
    r = client.patch(f"{URL}/example.com", json={"a1_hash_only": True}, headers=admin)
    assert r.status_code == 200 and stored_params(app, "example.com") == stored


def test_realm_change_with_stored_a1_hashes_needs_confirmation(app, client, admin, rdb):
    mk_domain(client, admin, a1_hash_only=True)
    mk_ext(client, admin, "1001", param={"password": "s3cret"})
    r = client.patch(f"{URL}/example.com", json={"realm": "new.example.com"}, headers=admin)
    assert r.status_code == 409
    assert "confirm_realm_change=true" in r.json["message"] and "realm" in r.json["details"]
    assert client.get(f"{URL}/example.com", headers=admin).json["realm"] == "example.com"
    r = client.patch(f"{URL}/example.com?confirm_realm_change=true",
                     json={"realm": "new.example.com"}, headers=admin)
    assert r.status_code == 200 and r.json["realm"] == "new.example.com"
    # a domain without stored hashes changes realm freely
    mk_domain(client, admin, "plain.example.com")
    r = client.patch(f"{URL}/plain.example.com", json={"realm": "x.example.com"}, headers=admin)
    assert r.status_code == 200


def test_api_defaults_reach_the_directory_xml(client, admin):
    """What the API stores is what /directory serves: the domain defaults ride along."""
    from lxml import etree

    mk_domain(client, admin, "127.0.0.1")
    mk_ext(client, admin, "1001", domain="127.0.0.1", param={"password": "p"})
    r = client.post("/directory", data={
        "section": "directory", "tag_name": "domain", "key_name": "name",
        "key_value": "127.0.0.1", "action": "user_call", "key": "id", "user": "1001",
        "domain": "127.0.0.1"})
    doc = etree.fromstring(r.data)
    dom = doc.find("section/domain")
    params = {p.get("name"): p.get("value") for p in dom.findall("params/param")}
    assert params == {"dial-string": DEFAULT_DIAL_STRING, "allow-empty-password": "false"}
    assert dom.find("variables/variable").attrib == {"name": "user_context", "value": "default"}
    assert dom.find("users/user").get("id") == "1001"
