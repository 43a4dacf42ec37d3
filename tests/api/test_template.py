"""/api/v1/templates: CRUD, and a change re-mirrors and flushes every dependent extension."""
import pytest

from tests.support.directory_api import effective_of, flushes, mirrored  # noqa: F401  (flushes: a fixture)
from tests.support.factories import mk_domain, mk_ext, mk_template

URL = "/api/v1/templates"


def test_crud(client, admin):
    r = client.post(URL, json={"name": "agents", "param": {"auth-acl": "10.0.0.0/8"},
                               "attribute": {"cacheable": "60000"}}, headers=admin)
    assert r.status_code == 201 and r.headers["Location"].endswith("/api/v1/templates/agents")
    assert r.json["param"] == {"auth-acl": "10.0.0.0/8"} and r.json["variable"] == {}
    assert client.post(URL, json={"name": "agents"}, headers=admin).status_code == 409
    r = client.patch(f"{URL}/agents", json={"param": {"auth-acl": None, "x": "1"}}, headers=admin)
    assert r.json["param"] == {"x": "1"} and r.json["attribute"] == {"cacheable": "60000"}
    r = client.put(f"{URL}/agents", json={"variable": {"v": "1"}}, headers=admin)
    assert r.status_code == 200
    assert (r.json["param"], r.json["variable"], r.json["attribute"]) == ({}, {"v": "1"}, {})
    assert client.put(f"{URL}/agents", json={"variable": {"v": "1"}}, headers=admin).json == r.json
    r = client.put(f"{URL}/supervisors", json={}, headers=admin)
    assert r.status_code == 201
    r = client.get(URL, query_string={"q": "sup"}, headers=admin)
    assert [t["name"] for t in r.json["items"]] == ["supervisors"] and r.json["total"] == 1
    assert client.delete(f"{URL}/supervisors", headers=admin).status_code == 204
    assert client.get(f"{URL}/supervisors", headers=admin).status_code == 404
    assert client.patch(f"{URL}/ghost", json={}, headers=admin).status_code == 404


@pytest.mark.parametrize("body,field", [
    ({"name": "bad name"}, "name"),
    ({"name": "t", "param": {"a1-hash": "0" * 32}}, "param"),
    ({"name": "t", "attribute": {"number-alias": "5000"}}, "attribute"),
    ({"name": "t", "attribute": {"cacheable": "false"}}, "attribute"),
    ({"name": "t", "variable": {"x": "<X-PRE-PROCESS cmd=\"exec\" data=\"id\"/>"}}, "variable"),
])
def test_bad_templates_are_422_naming_the_field(client, admin, body, field):
    r = client.post(URL, json=body, headers=admin)
    assert r.status_code == 422 and field in r.json["details"]


def test_template_change_remirrors_dependents_in_every_domain(client, admin, rdb):
    mk_template(client, admin, "agents", param={"password": "one"})
    mk_template(client, admin, "other", param={"password": "other"})
    for d in ("a.example.com", "b.example.com"):
        mk_domain(client, admin, d)
        mk_ext(client, admin, "1001", domain=d, template="agents")
        mk_ext(client, admin, "1002", domain=d, template="agents", param={"password": "own"})
        mk_ext(client, admin, "1003", domain=d, template="other")
    client.patch(f"{URL}/agents", json={"param": {"password": "two"},
                                        "variable": {"user_context": "agents"}}, headers=admin)
    for d in ("a.example.com", "b.example.com"):
        for name in ("1001", "1002", "1003"):
            assert mirrored(rdb, d, name) == effective_of(client, admin, d, name), (d, name)
        assert mirrored(rdb, d, "1001")["param"]["password"] == "two"
        assert mirrored(rdb, d, "1002")["param"]["password"] == "own"
        assert mirrored(rdb, d, "1001")["variable"] == {"user_context": "agents"}
        assert mirrored(rdb, d, "1003")["param"]["password"] == "other"


def test_template_change_flushes_cached_dependents(client, admin, flushes):
    mk_template(client, admin, "agents", attribute={"cacheable": "60000"})
    mk_domain(client, admin, "a.example.com")
    mk_domain(client, admin, "b.example.com")
    mk_ext(client, admin, "1001", domain="a.example.com", template="agents",
           attribute={"number-alias": "5001"})
    mk_ext(client, admin, "1002", domain="b.example.com", template="agents")
    mk_ext(client, admin, "1003", domain="b.example.com", template="agents",
           attribute={"cacheable": None})
    before = len(flushes())
    client.patch(f"{URL}/agents", json={"attribute": {"cacheable": None}}, headers=admin)
    new = flushes()
    assert len(new) == before + 2
    assert ("a.example.com", ["1001", "5001"]) in new and ("b.example.com", ["1002"]) in new
    # nothing is cached any more: a further change queues no flush
    client.patch(f"{URL}/agents", json={"variable": {"x": "1"}}, headers=admin)
    assert len(flushes()) == len(new)


def test_deleting_a_used_template_is_409(client, admin):
    mk_template(client, admin, "agents")
    mk_domain(client, admin)
    mk_ext(client, admin, "1001", template="agents")
    r = client.delete(f"{URL}/agents", headers=admin)
    assert r.status_code == 409
    assert "used by 1 extension" in r.json["message"] and "example.com" in r.json["message"]
    client.patch("/api/v1/domains/example.com/extensions/1001", json={"template": None},
                 headers=admin)
    assert client.delete(f"{URL}/agents", headers=admin).status_code == 204


def test_template_secrets_are_masked(client, admin, tokens):
    mk_template(client, admin, "agents", param={"password": "shared"})
    assert client.get(f"{URL}/agents", headers=tokens["viewer"]).json["param"] == {
        "password": "********"}
    assert client.get(f"{URL}/agents?include_secrets=true",
                      headers=admin).json["param"] == {"password": "shared"}
