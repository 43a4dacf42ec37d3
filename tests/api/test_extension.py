"""/api/v1/domains/<d>/extensions: CRUD, effective config, Redis mirror, aliases, flushes."""
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from app.state import keys
from tests.support.directory_api import effective_of, flushes, mirrored  # noqa: F401  (flushes: a fixture)
from tests.support.factories import mk_domain, mk_ext, mk_template

URL = "/api/v1/domains/example.com/extensions"


@pytest.fixture
def domain(client, admin):
    mk_domain(client, admin)
    mk_template(client, admin, "agents", param={"password": "tpl", "auth-acl": "10.0.0.0/8"},
                variable={"sip-force-contact": "NDLB-connectile-dysfunction-2.0"},
                attribute={"cacheable": "10000"})
    return "example.com"


def test_create_mirrors_the_effective_json_exactly(client, admin, rdb, domain):
    r = client.post(URL, json={"name": "1001", "template": "agents",
                               "param": {"password": "123", "allow-empty-password": False,
                                         "auth-acl": None, "sip-forbid-register": False},
                               "attribute": {"number-alias": "myphone"}}, headers=admin)
    assert r.status_code == 201
    assert r.headers["Location"].endswith(f"{URL}/1001")
    assert r.json["template"] == "agents" and r.json["enabled"] is True
    assert r.json["param"]["password"] == "********"
    expected = {"param": {"password": "123", "allow-empty-password": False,
                          "sip-forbid-register": False},
                "variable": {"sip-force-contact": "NDLB-connectile-dysfunction-2.0"},
                "attribute": {"cacheable": "10000", "number-alias": "myphone"}}
    assert effective_of(client, admin, domain, "1001") == expected
    assert mirrored(rdb, domain, "1001") == expected
    assert list(mirrored(rdb, domain, "1001")) == ["param", "variable", "attribute"]
    assert rdb.hget(keys.alias(domain), "myphone") == "1001"
    # the effective view masks secrets unless an admin asks
    r = client.get(f"{URL}/1001/effective", headers=admin)
    assert r.json["param"]["password"] == "********"


def test_get_put_patch_delete(client, admin, rdb, domain):
    mk_ext(client, admin, "1001", template="agents", variable={"a": "1"})
    r = client.get(f"{URL}/1001", headers=admin)
    assert r.status_code == 200 and r.json["variable"] == {"a": "1"}
    # PUT replaces: absent fields go back to their defaults (no template, enabled, empty)
    r = client.put(f"{URL}/1001", json={"param": {"password": "p"}}, headers=admin)
    assert r.status_code == 200
    assert (r.json["template"], r.json["variable"]) == (None, {})
    assert mirrored(rdb, domain, "1001") == {"param": {"password": "p"}, "variable": {},
                                             "attribute": {}}
    # PATCH merges name by name
    r = client.patch(f"{URL}/1001", json={"template": "agents", "variable": {"b": 2}},
                     headers=admin)
    assert r.json["variable"] == {"b": 2} and r.json["param"] == {"password": "********"}
    assert mirrored(rdb, domain, "1001")["param"] == {"password": "p", "auth-acl": "10.0.0.0/8"}
    r = client.patch(f"{URL}/1001", json={"variable": {"c": "3"}}, headers=admin)
    assert r.json["variable"] == {"b": 2, "c": "3"}
    r = client.delete(f"{URL}/1001", headers=admin)
    assert r.status_code == 204
    assert mirrored(rdb, domain, "1001") is None
    assert client.get(f"{URL}/1001", headers=admin).status_code == 404
    assert client.delete(f"{URL}/1001", headers=admin).status_code == 404


def test_put_creates_and_is_idempotent(client, admin, rdb, domain):
    body = {"template": "agents", "param": {"password": "p"}}
    r = client.put(f"{URL}/2001", json=body, headers=admin)
    assert r.status_code == 201 and r.headers["Location"].endswith(f"{URL}/2001")
    again = client.put(f"{URL}/2001", json=body, headers=admin)
    assert again.status_code == 200 and again.json == r.json
    r = client.put(f"{URL}/2001", json={"name": "2002"}, headers=admin)
    assert r.status_code == 422 and "name" in r.json["details"]


def test_null_hides_the_template_value(client, admin, rdb, domain):
    mk_ext(client, admin, "1001", template="agents", param={"auth-acl": None},
           attribute={"cacheable": None})
    eff = effective_of(client, admin, domain, "1001")
    assert "auth-acl" not in eff["param"] and eff["attribute"] == {}
    assert mirrored(rdb, domain, "1001") == eff


def test_disabled_extension_leaves_the_directory(client, admin, rdb, domain):
    mk_ext(client, admin, "1001", param={"password": "p"})
    client.patch(f"{URL}/1001", json={"enabled": False}, headers=admin)
    assert mirrored(rdb, domain, "1001") is None
    client.patch(f"{URL}/1001", json={"enabled": True}, headers=admin)
    assert mirrored(rdb, domain, "1001") == effective_of(client, admin, domain, "1001")


def test_unknown_domain_or_template_is_404(client, admin, domain):
    r = client.post("/api/v1/domains/nowhere.example/extensions", json={"name": "1"}, headers=admin)
    assert r.status_code == 404 and "domain" in r.json["details"]
    r = client.post(URL, json={"name": "1001", "template": "ghost"}, headers=admin)
    assert r.status_code == 404 and "template" in r.json["details"]
    assert client.get(f"{URL}/9999", headers=admin).status_code == 404
    assert client.get(f"{URL}/9999/effective", headers=admin).status_code == 404


def test_names_and_aliases_are_unique_per_domain(client, admin, rdb, domain):
    mk_ext(client, admin, "1001", attribute={"number-alias": "5001"})
    cases = [({"name": "1001"}, "name"),
             ({"name": "1002", "attribute": {"number-alias": "1001"}}, "attribute"),
             ({"name": "1003", "attribute": {"number-alias": "5001"}}, "attribute"),
             ({"name": "5001"}, "name")]
    for body, field in cases:
        r = client.post(URL, json=body, headers=admin)
        assert r.status_code == 409, body
        assert field in r.json["details"], body
    mk_ext(client, admin, "agent.A")
    r = client.post(URL, json={"name": "AGENT.a"}, headers=admin)
    assert r.status_code == 409  # FreeSWITCH matches user ids case-insensitively
    mk_ext(client, admin, "1002")
    r = client.patch(f"{URL}/1002", json={"attribute": {"number-alias": "5001"}}, headers=admin)
    assert r.status_code == 409
    # another domain may reuse the names
    mk_domain(client, admin, "other.example.com")
    mk_ext(client, admin, "1001", domain="other.example.com", attribute={"number-alias": "5001"})


def test_alias_change_moves_the_alias_entry(client, admin, rdb, domain):
    mk_ext(client, admin, "1001", attribute={"number-alias": "5001"})
    client.patch(f"{URL}/1001", json={"attribute": {"number-alias": "5002"}}, headers=admin)
    assert rdb.hgetall(keys.alias(domain)) == {"5002": "1001"}
    client.delete(f"{URL}/1001", headers=admin)
    assert rdb.hgetall(keys.alias(domain)) == {}


def test_cache_flush_is_queued_when_the_user_was_or_is_cacheable(client, admin, flushes, domain):
    mk_ext(client, admin, "1001", param={"password": "p"})
    client.patch(f"{URL}/1001", json={"param": {"password": "q"}}, headers=admin)
    assert flushes() == []  # never cacheable: FreeSWITCH holds nothing to flush
    client.patch(f"{URL}/1001", json={"attribute": {"cacheable": 60000}}, headers=admin)
    assert flushes() == [(domain, ["1001"])]
    client.patch(f"{URL}/1001", json={"attribute": {"cacheable": None, "number-alias": "5001"}},
                 headers=admin)
    assert flushes()[-1] == (domain, ["1001", "5001"])  # was cached: flush its names
    n = len(flushes())
    client.patch(f"{URL}/1001", json={"param": {"password": "r"}}, headers=admin)
    assert len(flushes()) == n  # no longer cacheable (the template is not in use)
    mk_ext(client, admin, "1002", template="agents", attribute={"number-alias": "5002"})
    client.delete(f"{URL}/1002", headers=admin)
    assert flushes()[-2:] == [(domain, ["1002", "5002"])] * 2


def test_secrets_are_write_only_by_default(client, admin, tokens, domain):
    mk_ext(client, admin, "1001", param={"password": "s3cret", "a1-hash": "a" * 32,
                                         "vm-password": "99"})
    for who in ("admin", "viewer"):
        body = client.get(f"{URL}/1001", headers=tokens[who]).json
        assert "s3cret" not in str(body) and "a" * 32 not in str(body)
        assert body["param"] == {"password": "********", "a1-hash": "********",
                                 "vm-password": "********"}
    assert client.get(f"{URL}/1001?include_secrets=true",
                      headers=tokens["viewer"]).status_code == 403
    assert client.get(f"{URL}/1001/effective?include_secrets=true",
                      headers=tokens["supervisor"]).status_code == 403
    r = client.get(f"{URL}/1001?include_secrets=true", headers=admin)
    assert r.json["param"]["password"] == "s3cret"
    # GET → edit → PUT keeps the stored secrets behind the mask
    body = client.get(f"{URL}/1001", headers=admin).json
    body["variable"] = {"x": "1"}
    put = {k: body[k] for k in ("template", "enabled", "param", "variable", "attribute")}
    assert client.put(f"{URL}/1001", json=put, headers=admin).status_code == 200
    assert effective_of(client, admin, domain, "1001")["param"]["password"] == "s3cret"
    # the mask cannot stand for a secret that was never stored
    r = client.post(URL, json={"name": "1002", "param": {"password": "********"}}, headers=admin)
    assert r.status_code == 422 and "password" in r.json["details"]["param"]


def test_list_pages_searches_and_filters(client, admin, domain):
    for i in range(12):
        mk_ext(client, admin, f"10{i:02d}", template="agents" if i % 2 else None,
               enabled=i != 3, attribute={"number-alias": f"77{i:02d}"})
    r = client.get(URL, query_string={"per_page": 5, "page": 3}, headers=admin)
    assert r.json["total"] == 12 and r.json["pages"] == 3
    assert [e["name"] for e in r.json["items"]] == ["1010", "1011"]
    assert r.json["links"]["next"] is None
    r = client.get(URL, query_string={"q": "7705"}, headers=admin)
    assert [e["name"] for e in r.json["items"]] == ["1005"]
    r = client.get(URL, query_string={"q": "101"}, headers=admin)
    assert [e["name"] for e in r.json["items"]] == ["1010", "1011"]
    r = client.get(URL, query_string={"template": "agents"}, headers=admin)
    assert r.json["total"] == 6
    r = client.get(URL, query_string={"enabled": "false"}, headers=admin)
    assert [e["name"] for e in r.json["items"]] == ["1003"]
    assert client.get(URL, query_string={"template": "ghost"}, headers=admin).status_code == 404
    assert client.get(URL, query_string={"per_page": 5000}, headers=admin).status_code == 422


HOSTILE_BODIES = [
    ("application/json", b"{not json"),
    ("application/json", b'{"name": "1001", "param": {"x": 1' + b"1" * 5000 + b"}}"),
    ("application/json", b"[" * 100000 + b"]" * 100000),
    ("application/json", b'{"name": "1001", "param": {"x": NaN}}'),
    ("application/json", b'{"name": "1001", "param": {"x": Infinity}}'),
    ("application/json", b"[]"),
    ("application/json", b'"1001"'),
    ("application/json", b"null"),
    ("application/json", b"\xff\xfe"),
    ("application/json", b""),
    ("application/json", b'{"name": "\\u00e9\\u4e2d"}'),
    ("application/json", b'{"name": "1001", "enabled": 1e400}'),
    ("application/json", b'{"name": "1001", "param": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}}'),
    ("application/json", b'{"name": "1001", "param": {"x": "\\ud800"}}'),
    ("text/plain", b'{"name": "1001"}'),
    ("application/x-www-form-urlencoded", b"name=1001"),
    ("text/csv", b"name\n1001\n"),
    (None, b'{"name": "1001"}'),
]


@pytest.mark.parametrize("ctype,raw", HOSTILE_BODIES)
@pytest.mark.parametrize("method,path", [("post", ""), ("put", "/1001"), ("patch", "/1001")])
def test_hostile_bodies_get_4xx_never_500(client, admin, domain, ctype, raw, method, path):
    if method == "patch":
        mk_ext(client, admin, "1001")
    headers = dict(admin)
    if ctype:
        headers["Content-Type"] = ctype
    r = getattr(client, method)(URL + path, data=raw, headers=headers)
    assert 400 <= r.status_code < 500, (r.status_code, r.json)
    assert set(r.json) == {"error", "message", "details"}


def test_unicode_values_are_kept(client, admin, rdb, domain):
    mk_ext(client, admin, "1001", variable={"effective_caller_id_name": "Zoë 中文 <&>\"'$"})
    assert mirrored(rdb, domain, "1001")["variable"]["effective_caller_id_name"] == \
        "Zoë 中文 <&>\"'$"


@pytest.mark.parametrize("path", ["/api/v1/domains/bad%20domain",
                                  "/api/v1/domains/ex%C3%A4mple.com",
                                  "/api/v1/templates/bad%20name",
                                  "/api/v1/templates/" + "t" * 65,
                                  f"{URL}/10%2001", f"{URL}/export", f"{URL}/import",
                                  f"{URL}/%24%7Bsystem(id)%7D"])
def test_put_cannot_create_a_name_the_body_would_refuse(client, admin, domain, path):
    r = client.put(path, json={}, headers=admin)
    assert r.status_code == 422, (path, r.status_code)
    assert "name" in r.json["details"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8)
section = st.dictionaries(st.sampled_from(["password", "a1-hash", "auth-acl", "cacheable",
                                           "number-alias", "sip-forbid-register", "x", "a b",
                                           "user-agent-filter", "max-registrations-per-extension"]),
                          json_values, max_size=4)
bodies = st.fixed_dictionaries({}, optional={
    "name": st.text(max_size=10) | st.integers(), "template": st.none() | st.text(max_size=8),
    "enabled": json_values, "param": section | json_values, "variable": section,
    "attribute": section, "extra": json_values})


@hsettings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, method=st.sampled_from(["post", "put", "patch"]))
def test_random_bodies_never_cause_a_500(client, admin, domain, body, method):
    path = URL if method == "post" else f"{URL}/1001"
    r = getattr(client, method)(path, json=body, headers=admin)
    assert r.status_code < 500, (r.status_code, r.json)
    r = client.patch("/api/v1/domains/example.com", json=body, headers=admin)
    assert r.status_code < 500, (r.status_code, r.json)
