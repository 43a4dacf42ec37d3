"""POST/GET /directory against real Redis and SQL, with the captured FreeSWITCH requests."""
import json
from pathlib import Path

import pytest
import redis as redis_lib

from app.directory import lookup as lookup_mod
from app.directory.form import encode
from app.extensions import db
from app.mirror.rebuild import rebuild_all
from app.mirror.repairs import repairs
from app.models import Domain, Extension
from app.models.domain import DEFAULT_DIAL_STRING
from tests.support.directory_lookup import (BASE, add_ext, ask, d, dead_reader,  # noqa: F401
                                            dead_url, is_not_found, parsed, post,
                                            users)  # (d, dead_url: fixtures)

FIXTURE = Path(__file__).parent.parent / "fixtures" / "freeswitch" / "xml_curl_requests.jsonl"
REQUESTS = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("req", REQUESTS, ids=[f"{i}-{r['fields'].get('action', 'none')}-{r['fields']['user']}"
                                               for i, r in enumerate(REQUESTS)])
def test_every_captured_request_is_answered(client, d, req):
    root = parsed(post(client, req["fields"].items()))
    dom = root.find("section/domain")
    assert root.find("section").get("name") == "directory"
    assert dom.get("name") == "127.0.0.1"
    params = {p.get("name"): p.get("value") for p in dom.iterfind("params/param")}
    assert params["dial-string"] == DEFAULT_DIAL_STRING
    found = users(root)
    if req["answer"].startswith("user "):
        assert [u.get("id") for u in found] == [req["answer"].split()[1]]
        u = found[0]
        assert u.get("cacheable") == "60000" and u.get("number-alias") == "5" + u.get("id")[1:]
        up = {p.get("name"): p.get("value") for p in u.iterfind("params/param")}
        assert up == {"allow-empty-password": "false", "password": "1234"}
        assert u.find("variables/variable").get("name") == "user_context"
    else:
        assert req["answer"].startswith("not found")
        assert found == [] and dom.find("user") is None


def test_get_with_query_parameters(client, d):
    qs = encode(BASE + [("action", "sip_auth"), ("key", "id"), ("user", "1002"), ("domain", "127.0.0.1")])
    root = parsed(client.get("/directory?" + qs.decode()))
    assert [u.get("id") for u in users(root)] == ["1002"]


def test_one_redis_round_trip_no_sql_on_hit(client, d, app_ctx):
    from app.directory.lookup import directory

    ask(client, "1001")
    stats = directory().stats
    assert stats["redis"] == 1 and stats["sql"] == 0


@pytest.mark.parametrize("action", ["sip_auth", "user_call", "reverse-auth-lookup", "message-count", None])
def test_every_action_gets_the_user(client, d, action):
    extra = [("Event-Name", "GENERAL")] if action == "message-count" else []
    root = ask(client, "1003", *extra, action=action)
    assert [u.get("id") for u in users(root)] == ["1003"]


def test_message_count_retry_by_number_alias(client, d):
    pairs = BASE[:-1] + [("Event-Name", "GENERAL"), ("action", "message-count"),
                         ("key", "id"), ("user", "5002"), ("domain", "127.0.0.1"),
                         ("key", "number-alias"), ("user", "5002"), ("domain", "127.0.0.1")]
    root = parsed(post(client, pairs))
    assert [(u.get("id"), u.get("number-alias")) for u in users(root)] == [("1002", "5002")]


def test_key_id_matches_number_alias_like_freeswitch(client, d):
    assert [u.get("id") for u in users(ask(client, "5001"))] == ["1001"]


def test_key_number_alias_matches_only_aliases(client, d):
    assert [u.get("id") for u in users(ask(client, "5003", key="number-alias"))] == ["1003"]
    assert users(ask(client, "1003", key="number-alias")) == []


def test_user_ids_match_case_insensitively(client, d):
    add_ext(d, "Alice", param={"password": "x"})
    add_ext(d, "bob", param={"password": "y"}, attribute={"number-alias": "BobAlias"})
    assert [u.get("id") for u in users(ask(client, "alice"))] == ["Alice"]
    assert [u.get("id") for u in users(ask(client, "ALICE"))] == ["Alice"]
    assert [u.get("id") for u in users(ask(client, "BOB"))] == ["bob"]
    assert [u.get("id") for u in users(ask(client, "bobalias"))] == ["bob"]


def test_reverse_auth_params_are_served(client, d):
    add_ext(d, "gw1", param={"reverse-auth-user": "u", "reverse-auth-pass": "p$w"})
    root = ask(client, "gw1", ("sip_call_id", "abc"), action="reverse-auth-lookup")
    params = {p.get("name"): p.get("value") for p in users(root)[0].iterfind("params/param")}
    assert params == {"reverse-auth-user": "u", "reverse-auth-pass": "p$w"}


def test_unknown_user_gets_the_domain_without_users(client, d):
    root = ask(client, "1009")
    assert root.find("section/domain").get("name") == "127.0.0.1" and users(root) == []
    root = ask(client, "nobody")
    assert root.find("section/domain") is not None and users(root) == []


def test_invalid_user_name_gets_the_domain_without_users(client, d):
    root = ask(client, "10 01")
    assert root.find("section/domain") is not None and users(root) == []


def test_domain_only_lookup(client, d):
    root = parsed(post(client, BASE))
    assert root.find("section/domain").get("name") == "127.0.0.1" and users(root) == []


@pytest.mark.parametrize("pairs", [
    BASE[:4] + [("key_value", "unknown.example")] + BASE[5:] + [("key", "id"), ("user", "1001"), ("domain", "unknown.example")],
    [("hostname", "vm"), ("section", "directory"), ("tag_name", ""), ("key_name", ""), ("key_value", ""),
     ("Event-Name", "REQUEST_PARAMS"), ("purpose", "gateways"), ("profile", "internal")],
    [("hostname", "vm"), ("section", "directory"), ("tag_name", ""), ("key_name", ""), ("key_value", ""),
     ("Event-Name", "REQUEST_PARAMS"), ("purpose", "network-list")],
    [("hostname", "vm"), ("section", "configuration"), ("tag_name", "configuration"), ("key_name", "name"),
     ("key_value", "sofia.conf"), ("Event-Name", "REQUEST_PARAMS")],
    [("hostname", "vm"), ("section", "dialplan"), ("tag_name", ""), ("key_name", ""), ("key_value", ""),
     ("Event-Name", "REQUEST_PARAMS"), ("Hunt-Destination-Number", "1001")],
], ids=["unknown-domain", "gateways", "network-list", "configuration", "dialplan"])
def test_not_found_result(client, d, pairs):
    assert is_not_found(parsed(post(client, pairs)))


def test_disabled_extension_is_an_unknown_user_without_sql(client, d, app_ctx):
    from app.directory.lookup import directory
    from app.mirror.write import mirror_extensions

    ext = db.session.execute(db.select(Extension).filter_by(name="1002")).scalar_one()
    ext.enabled = False
    db.session.commit()
    mirror_extensions([ext])
    root = ask(client, "1002")
    assert root.find("section/domain") is not None and users(root) == []
    assert directory().stats["sql"] == 0


def test_sip_forbid_register_is_served_so_freeswitch_answers_403(client, d):
    add_ext(d, "1010", param={"password": "x", "sip-forbid-register": True})
    u = users(ask(client, "1010"))[0]
    params = {p.get("name"): p.get("value") for p in u.iterfind("params/param")}
    assert params["sip-forbid-register"] == "true"


HOSTILE = '<>&"\'$ $${x} \n\r<?x?><X-PRE-PROCESS cmd="exec" data="id"/><!--#set a=b-->'


def test_hostile_names_and_values_parse_and_round_trip(client, d, app_ctx):
    dom = Domain(name="h.example", realm="h", param={HOSTILE: HOSTILE, "dial-string": DEFAULT_DIAL_STRING},
                 variable={"v" + HOSTILE: HOSTILE})
    db.session.add(dom)
    db.session.commit()
    add_ext(dom, "1001", mirror=False, param={HOSTILE: HOSTILE, "password": "$$1234"},
            variable={"x": HOSTILE}, attribute={"cacheable": HOSTILE, "number-alias": "9$<"})
    rebuild_all()
    pairs = BASE[:4] + [("key_value", "h.example")] + BASE[5:] + [("key", "id"), ("user", "1001"), ("domain", "h.example")]
    resp = post(client, pairs)
    for line in resp.data.decode().split("\n"):
        assert "<?" not in line and "$" not in line and "x-pre-process" not in line.lower()
    root = parsed(resp)
    dom_el = root.find("section/domain")
    assert {p.get("name"): p.get("value") for p in dom_el.iterfind("params/param")}[HOSTILE] == HOSTILE
    assert dom_el.find("variables/variable").get("name") == "v" + HOSTILE
    u = users(root)[0]
    assert u.get("cacheable") == HOSTILE and u.get("number-alias") == "9$<"
    params = {p.get("name"): p.get("value") for p in u.iterfind("params/param")}
    assert params == {HOSTILE: HOSTILE, "password": "$$1234"}
    assert u.find("variables/variable").get("value") == HOSTILE


def test_request_too_large(client, d):
    resp = client.post("/directory", data=b"x" * 70000, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 413


# --- degraded paths -----------------------------------------------------------------------

def test_redis_down_answers_from_sql(client, d, app_ctx, dead_url):
    dirx = dead_reader(dead_url)
    assert [u.get("id") for u in users(ask(client, "1001"))] == ["1001"]
    assert [u.get("id") for u in users(ask(client, "5002"))] == ["1002"]
    assert users(ask(client, "1009")) == []
    assert is_not_found(ask(client, "1001", domain="nope.example"))
    assert dirx.stats["redis_down"] == 1  # the breaker skips Redis after the first failure
    assert dirx.stats["sql"] == 4


def test_redis_down_unknown_users_are_remembered(client, d, app_ctx, dead_url):
    dirx = dead_reader(dead_url)
    for _ in range(5):
        assert users(ask(client, "1999")) == []
    assert dirx.stats["sql"] == 1


def test_redis_down_disabled_extension_is_not_served(client, d, app_ctx, dead_url):
    add_ext(d, "1020", enabled=False, param={"password": "x"})
    dead_reader(dead_url)
    assert users(ask(client, "1020")) == []


def test_missing_field_answers_from_sql_and_queues_a_repair(client, d, rdb, settings):
    from app.state import keys
    broker = redis_lib.Redis.from_url(settings.celery_broker_url, decode_responses=True)
    broker.delete("celery")
    rdb.hdel(keys.exten("127.0.0.1"), "1002")
    assert [u.get("id") for u in users(ask(client, "1002"))] == ["1002"]
    assert repairs.join(10)
    messages = [json.loads(m) for m in broker.lrange("celery", 0, -1)]
    tasks = [(m["headers"]["task"], m["headers"]["argsrepr"]) for m in messages]
    assert ("fscti.directory.repair_extensions", "['127.0.0.1', ['1002']]") in tasks
    broker.delete("celery")


def test_domain_missing_from_redis_answers_from_sql_and_queues_a_rebuild(client, d, rdb, settings):
    from app.state import keys
    broker = redis_lib.Redis.from_url(settings.celery_broker_url, decode_responses=True)
    broker.delete("celery")
    rdb.hdel(keys.domains(), "127.0.0.1")  # Redis kept its data (the marker) but lost a domain
    rdb.delete(keys.exten("127.0.0.1"))
    assert [u.get("id") for u in users(ask(client, "1003"))] == ["1003"]
    assert repairs.join(10)
    tasks = [json.loads(m)["headers"]["task"] for m in broker.lrange("celery", 0, -1)]
    assert "fscti.directory.rebuild" in tasks
    broker.delete("celery")


def test_a_redis_that_lost_its_data_is_not_trusted_nor_repaired_from_lookups(client, d, rdb,
                                                                            settings):
    """No generation marker: the heal (not a repair per lookup) rebuilds; until then SQL
    answers everything, and nothing SQL said is cached on an incomplete mirror."""
    from app.directory.lookup import directory
    from app.state import keys
    broker = redis_lib.Redis.from_url(settings.celery_broker_url, decode_responses=True)
    broker.delete("celery")
    rdb.flushdb()
    rdb.hset(keys.domains(), "127.0.0.1", '{"realm":"127.0.0.1","param":{},"variable":{}}')
    sql_before = directory().stats["sql"]
    for _ in range(2):
        assert [u.get("id") for u in users(ask(client, "1003"))] == ["1003"]
        assert users(ask(client, "7777")) == []
    assert directory().stats["sql"] == sql_before + 4  # never cached, never remembered
    assert repairs.join(10)
    assert broker.lrange("celery", 0, -1) == []


def test_redis_and_sql_down_refuse_rather_than_fail(client, d, app_ctx, dead_url, monkeypatch):
    from sqlalchemy.exc import OperationalError

    ask(client, "1001")  # the domain head is now known to this process
    dead_reader(dead_url)

    def sql_down(*a, **kw):
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(lookup_mod, "sql_lookup", sql_down)
    root = ask(client, "1001")
    assert root.find("section/domain") is not None and users(root) == []
    resp = post(client, BASE[:4] + [("key_value", "other.example")] + BASE[5:] +
                [("key", "id"), ("user", "1"), ("domain", "other.example")])
    assert resp.status_code == 503


# --- access control -------------------------------------------------------------------------

@pytest.fixture
def guarded(app_ctx, settings):
    import copy
    import ipaddress

    from app.allowlist import Guard

    s = copy.copy(settings)
    s.directory_credentials = "fs:s3cret:x"
    s.directory_allow = [ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("::1/128")]
    app_ctx.extensions["fscti-directory-guard"] = Guard(s)
    yield
    app_ctx.extensions.pop("fscti-directory-guard", None)


def _basic(creds: str) -> dict:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(creds.encode()).decode()}


def test_credentials_and_allowlist(client, d, guarded):
    pairs = BASE + [("key", "id"), ("user", "1001"), ("domain", "127.0.0.1")]
    ok = {"REMOTE_ADDR": "10.1.2.3"}
    assert post(client, pairs, environ_base=ok).status_code == 401
    resp = post(client, pairs, environ_base=ok, headers=_basic("fs:wrong"))
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")
    assert post(client, pairs, environ_base=ok, headers={"Authorization": "Basic !!"}).status_code == 401
    assert post(client, pairs, environ_base={"REMOTE_ADDR": "10.2.0.1"},
                headers=_basic("fs:s3cret:x")).status_code == 403
    root = parsed(post(client, pairs, environ_base=ok, headers=_basic("fs:s3cret:x")))
    assert [u.get("id") for u in users(root)] == ["1001"]
    root = parsed(post(client, pairs, environ_base={"REMOTE_ADDR": "::1"}, headers=_basic("fs:s3cret:x")))
    assert [u.get("id") for u in users(root)] == ["1001"]


def test_floor_endpoint_is_not_registered_in_production(client, d):
    assert client.post("/directory/floor").status_code in (404, 405)


def test_domain_case_differences_are_answered_then_served_from_redis(client, d, app_ctx):
    from app.directory.lookup import directory

    root = ask(client, "1001", domain="127.0.0.1")
    dom = Domain(name="Mixed.Example", realm="m", param={"dial-string": "x"}, variable={})
    db.session.add(dom)
    db.session.commit()
    add_ext(dom, "1001", param={"password": "m"})
    from app.mirror.write import mirror_domain

    mirror_domain(dom)
    root = ask(client, "1001", domain="mixed.example")
    assert root.find("section/domain").get("name") == "mixed.example"  # FreeSWITCH's spelling
    assert [u.get("id") for u in users(root)] == ["1001"]
    sql = directory().stats["sql"]
    assert directory().stats["repairs"] == 0  # nothing is missing from the mirror
    root = ask(client, "1001", domain="mixed.example")
    assert [u.get("id") for u in users(root)] == ["1001"]
    assert directory().stats["sql"] == sql  # the second time Redis answered


@pytest.mark.parametrize("garbage", ["not json", "[1, 2]", '{"param": "x", "variable": [1], "attribute": 5}'])
def test_a_malformed_value_in_redis_is_answered_from_sql_and_repaired(client, d, rdb, garbage):
    from app.state import keys

    rdb.hset(keys.exten("127.0.0.1"), "1001", garbage)
    root = ask(client, "1001")
    u = users(root)
    assert [x.get("id") for x in u] == ["1001"]
    params = {p.get("name"): p.get("value") for p in u[0].iterfind("params/param")}
    assert params == {"password": "1234", "allow-empty-password": "false"}  # never served without them
    assert repairs.join(10)
