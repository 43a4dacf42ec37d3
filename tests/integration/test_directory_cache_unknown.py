"""Answers for users and domains SQL does not know, against a real (private) redis-server: they
follow every change of the domain at once, like every other answer, and still cost SQL at most
one query per NEGATIVE_TTL (a SIP scanner must not turn into an SQL query per attempt).
"""
import pytest

from app.directory.lookup import directory
from tests.support.directory_cache import (D, answer_of, dom, evalsha_calls,  # noqa: F401
                                           private)  # (dom, private: fixtures)
from tests.support.redis_server import needs_redis_server

pytestmark = [pytest.mark.integration, needs_redis_server]     # private redis-servers


def domain_of(client, user, key="id", domain=D):
    """None (not found), or ([user ids], {domain variable: value}) of one lookup."""
    root = answer_of(client, user, key, domain)
    if root is None:
        return None
    return ([u.get("id") for u in root.iterfind("section/domain/users/user")],
            {v.get("name"): v.get("value") for v in root.iterfind("section/domain/variables/variable")})


def patch_marker(client, admin, value):
    r = client.patch(f"/api/v1/domains/{D}", json={"variable": {"marker": value}}, headers=admin)
    assert r.status_code == 200, r.json


# (user, lookup key): unknown by id, unknown as a number-alias only, disabled (SQL knows it)
UNKNOWN = [("ghost", "id"), ("ghost", "number-alias"), ("9999", "id"), ("1002", "id")]


def test_a_domain_change_reaches_the_next_unknown_user_lookup(client, dom, private, admin):
    patch_marker(client, admin, "one")
    for user, key in UNKNOWN:
        assert domain_of(client, user, key) == ([], {"marker": "one"})
    for i in range(40):
        patch_marker(client, admin, f"m{i}")
        stale = [(u, k, got) for u, k in UNKNOWN if (got := domain_of(client, u, k)) != ([], {"marker": f"m{i}"})]
        assert stale == [], i


def test_unknown_users_cost_sql_once_and_repeats_no_round_trip(client, dom, private, admin):
    """The control of the test above: being exact costs neither SQL nor Redis round trips."""
    patch_marker(client, admin, "one")
    stats = directory().stats
    assert domain_of(client, "ghost") == ([], {"marker": "one"})
    sql, calls = stats["sql"], evalsha_calls(private)
    for _ in range(20):
        assert domain_of(client, "ghost") == ([], {"marker": "one"})
    assert evalsha_calls(private) == calls and stats["sql"] == sql  # from the answer cache
    patch_marker(client, admin, "two")
    calls = evalsha_calls(private)  # the mirror's writes are EVALSHAs too
    for _ in range(5):
        assert domain_of(client, "ghost") == ([], {"marker": "two"})
    assert stats["sql"] == sql  # SQL's verdict (no such user) is still remembered
    assert evalsha_calls(private) == calls + 1  # one round trip for the new domain entry


def test_a_new_domain_reaches_the_next_lookup(client, private, admin):
    new = "fresh.example"
    assert domain_of(client, "ghost", domain=new) is None
    assert domain_of(client, "ghost", domain=new) is None
    r = client.post("/api/v1/domains", json={"name": new, "variable": {"marker": "new"}}, headers=admin)
    assert r.status_code == 201, r.json
    assert domain_of(client, "ghost", domain=new)[1]["marker"] == "new"
    assert client.delete(f"/api/v1/domains/{new}", headers=admin).status_code == 204
    assert domain_of(client, "ghost", domain=new) is None
