"""Bulk import (JSON and CSV, all-or-nothing, row-indexed errors) and export (round trips)."""
import hashlib
import json

import pytest

from app.state import keys
from tests.support.directory_api import effective_of, flushes, mirrored  # noqa: F401  (flushes: a fixture)
from tests.support.factories import mk_domain, mk_ext, mk_template

BASE = "/api/v1/domains/example.com/extensions"
IMPORT, EXPORT = f"{BASE}/import", f"{BASE}/export"


@pytest.fixture
def domain(client, admin):
    mk_domain(client, admin)
    mk_template(client, admin, "agents", param={"auth-acl": "10.0.0.0/8"},
                variable={"sip-force-expires": "60"})
    return "example.com"


def rows(n, start=1000, **extra):
    return [{"name": str(start + i), "template": "agents",
             "param": {"password": f"pw{i}"}, "attribute": {"number-alias": str(50000 + start + i)},
             **extra} for i in range(n)]


def csv_post(client, headers, text, **query):
    return client.post(IMPORT, data=text.encode(), query_string=query,
                       headers={**headers, "Content-Type": "text/csv"})


def test_json_import_writes_and_mirrors_every_row(client, admin, rdb, domain):
    r = client.post(IMPORT, json=rows(25), headers=admin)
    assert r.status_code == 200 and r.json == {"created": 25, "replaced": 0, "total": 25}
    assert rdb.hlen(keys.exten(domain)) == 25 and rdb.hlen(keys.alias(domain)) == 25
    assert mirrored(rdb, domain, "1007") == effective_of(client, admin, domain, "1007")
    assert mirrored(rdb, domain, "1007")["param"] == {"password": "pw7", "auth-acl": "10.0.0.0/8"}


def test_one_bad_row_writes_nothing_and_every_error_is_reported(client, admin, rdb, domain):
    mk_ext(client, admin, "900", attribute={"number-alias": "9000"})
    body = rows(6)
    body[1]["param"]["a1-hash"] = "XYZ"
    body[2]["template"] = "ghost"
    body[3]["name"] = "1000"                       # duplicate of row 0
    body[4]["attribute"]["number-alias"] = "9000"  # alias of an existing extension
    body[5] = "not an object"
    r = client.post(IMPORT, json=body, headers=admin)
    assert r.status_code == 422
    report = {e["row"]: e for e in r.json["details"]["rows"]}
    assert r.json["details"]["invalid_rows"] == 5 and sorted(report) == [1, 2, 3, 4, 5]
    assert "a1-hash" in report[1]["errors"]["param"]
    assert "template" in report[2]["errors"]
    assert "row 0" in report[3]["errors"]["name"][0]
    assert "900" in report[4]["errors"]["attribute"]["number-alias"][0]
    assert report[1]["name"] == "1001"
    assert "nothing was imported" in r.json["message"]
    assert client.get(BASE, headers=admin).json["total"] == 1
    assert rdb.hkeys(keys.exten(domain)) == ["900"]


def test_create_mode_refuses_existing_names_and_upsert_replaces(client, admin, rdb, domain):
    mk_ext(client, admin, "1000", variable={"old": "1"}, attribute={"number-alias": "7000"})
    r = client.post(IMPORT, json=rows(3), headers=admin)
    assert r.status_code == 422
    assert "mode=upsert" in r.json["details"]["rows"][0]["errors"]["name"][0]
    r = client.post(IMPORT, json=rows(3), query_string={"mode": "upsert"}, headers=admin)
    assert r.status_code == 200 and r.json == {"created": 2, "replaced": 1, "total": 3}
    assert mirrored(rdb, domain, "1000")["variable"] == {"sip-force-expires": "60"}
    assert rdb.hgetall(keys.alias(domain)) == {"51000": "1000", "51001": "1001", "51002": "1002"}
    assert client.post(IMPORT, json=rows(1), query_string={"mode": "merge"},
                       headers=admin).status_code == 422


def test_import_body_must_be_a_list(client, admin, domain):
    assert client.post(IMPORT, json={"name": "1"}, headers=admin).status_code == 422
    r = client.post(IMPORT, data=b"name\n1001", headers={**admin, "Content-Type": "text/plain"})
    assert r.status_code == 415
    assert client.post(IMPORT, json=[], headers=admin).json["total"] == 0
    r = client.post("/api/v1/domains/nowhere.example/extensions/import", json=[], headers=admin)
    assert r.status_code == 404


def test_csv_import(client, admin, rdb, domain):
    text = ("name,template,enabled,param.password,param.sip-forbid-register,variable.x,"
            "attribute.number-alias,attribute.cacheable\n"
            "1001,agents,true,s1,false,,5001,\n"
            "1002,,FALSE,s2,,\\E,,60000\n"
            "\n"
            "1003,agents,,s3,true,\\N,,\n")
    r = csv_post(client, admin, text)
    assert r.status_code == 200, r.json
    assert r.json["created"] == 3
    e1 = client.get(f"{BASE}/1001?include_secrets=true", headers=admin).json
    assert e1["param"] == {"password": "s1", "sip-forbid-register": False}
    assert e1["attribute"] == {"number-alias": "5001"} and e1["enabled"] is True
    e2 = client.get(f"{BASE}/1002", headers=admin).json
    assert e2["enabled"] is False and e2["template"] is None and e2["variable"] == {"x": ""}
    assert client.get(f"{BASE}/1003", headers=admin).json["variable"] == {"x": None}
    assert mirrored(rdb, domain, "1002") is None  # disabled
    assert mirrored(rdb, domain, "1003")["param"]["sip-forbid-register"] is True


@pytest.mark.parametrize("text,where", [
    ("template,param.password\nagents,x\n", "header"),
    ("name,bogus\n1001,x\n", "header"),
    ("name,name\n1001,1002\n", "header"),
    ("name,param.a1-hash\n1001,nothex\n1002,0123456789abcdef0123456789abcdef\n", "rows"),
    ("name,enabled\n1001,maybe\n", "rows"),
    ("name\n1001,extra\n", "rows"),
    ("name,param.bad name\n1001,x\n", "rows"),
    ('name\n"1001\n', "csv"),
])
def test_bad_csv_is_422_with_a_line_number(client, admin, domain, text, where):
    r = csv_post(client, admin, text)
    assert r.status_code == 422, r.json
    assert where in r.json["details"]
    if where == "rows":
        assert r.json["details"]["rows"][0]["line"] == 2
    assert client.get(BASE, headers=admin).json["total"] == 0


def test_csv_must_be_utf8(client, admin, domain):
    assert csv_post(client, admin, "x").status_code == 422  # header only, unknown column
    r = client.post(IMPORT, data="name,variable.n\n1001,Zo\xeb\n".encode("latin-1"),
                    headers={**admin, "Content-Type": "text/csv"})
    assert r.status_code == 400
    r = client.post(IMPORT, data="\ufeffname,variable.n\n1001,Zoë\n".encode(),
                    headers={**admin, "Content-Type": "text/csv; charset=utf-8"})
    assert r.status_code == 200


def seed(client, admin):
    mk_ext(client, admin, "1001", template="agents", param={"password": "p1", "auth-acl": None},
           variable={"empty": "", "n": 5, "f": 1.5}, attribute={"number-alias": "5001"})
    mk_ext(client, admin, "1002", enabled=False, param={"allow-empty-password": True},
           attribute={"cacheable": True})
    mk_ext(client, admin, "agent.x", variable={"effective_caller_id_name": "Zoë, \"Z\" <&>"})


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_import_round_trip(client, admin, rdb, domain, fmt):
    seed(client, admin)
    q = {"format": fmt, "include_secrets": "true"}
    first = client.get(EXPORT, query_string=q, headers=admin)
    assert first.status_code == 200
    mirror_before = rdb.hgetall(keys.exten(domain))
    for name in ("1001", "1002", "agent.x"):
        client.delete(f"{BASE}/{name}", headers=admin)
    if fmt == "csv":
        assert first.mimetype == "text/csv"
        assert "attachment" in first.headers["Content-Disposition"]
        r = csv_post(client, admin, first.data.decode())
    else:
        r = client.post(IMPORT, json=first.json, headers=admin)
    assert r.status_code == 200 and r.json["created"] == 3, r.json
    again = client.get(EXPORT, query_string=q, headers=admin)
    assert again.data == first.data
    after = rdb.hgetall(keys.exten(domain))
    if fmt == "csv":  # CSV cells are text: numbers come back as strings, FreeSWITCH sees the same
        mirror_before, after = as_text(mirror_before), as_text(after)
    assert after == mirror_before


def as_text(mirror: dict) -> dict:
    def text(v):
        return v if isinstance(v, (str, bool)) or v is None else str(v)
    return {name: {s: {k: text(v) for k, v in sec.items()} for s, sec in json.loads(raw).items()}
            for name, raw in mirror.items()}


def test_json_export_keeps_types_and_masks_secrets(client, admin, tokens, domain):
    seed(client, admin)
    rows_ = client.get(EXPORT, headers=tokens["viewer"]).json
    assert [r["name"] for r in rows_] == ["1001", "1002", "agent.x"]
    assert rows_[0] == {"name": "1001", "template": "agents", "enabled": True,
                        "param": {"password": "********", "auth-acl": None},
                        "variable": {"empty": "", "n": 5, "f": 1.5},
                        "attribute": {"number-alias": "5001"}}
    assert client.get(EXPORT, query_string={"include_secrets": "true"},
                      headers=tokens["viewer"]).status_code == 403
    # a masked export re-imported over the same extensions keeps their passwords
    r = client.post(IMPORT, json=rows_, query_string={"mode": "upsert"}, headers=admin)
    assert r.status_code == 200 and r.json["replaced"] == 3
    assert effective_of(client, admin, domain, "1001")["param"]["password"] == "p1"
    assert client.get(EXPORT, query_string={"format": "xml"}, headers=admin).status_code == 422


def test_import_hashes_passwords_in_an_a1_hash_only_domain(client, admin, rdb):
    mk_domain(client, admin, "a1.example.com", a1_hash_only=True)
    r = client.post("/api/v1/domains/a1.example.com/extensions/import",
                    json=[{"name": "1001", "param": {"password": "s3cret"}}], headers=admin)
    assert r.status_code == 200
    value = mirrored(rdb, "a1.example.com", "1001")
    assert value["param"] == {"a1-hash": hashlib.md5(b"1001:a1.example.com:s3cret").hexdigest()}


def test_import_flushes_cached_users(client, admin, flushes, domain):
    body = rows(2)
    body[0]["attribute"]["cacheable"] = "60000"
    client.post(IMPORT, json=body, headers=admin)
    assert flushes() == [(domain, ["1000", "51000"])]


def test_ten_thousand_rows_in_one_request(client, admin, rdb, domain):
    r = client.post(IMPORT, json=rows(10_000, start=100000), headers=admin)
    assert r.status_code == 200 and r.json["created"] == 10_000
    assert rdb.hlen(keys.exten(domain)) == 10_000
    assert json.loads(rdb.hget(keys.exten(domain), "109999"))["param"]["password"] == "pw9999"
    page = client.get(BASE, query_string={"per_page": 1000, "page": 10}, headers=admin).json
    assert page["total"] == 10_000 and len(page["items"]) == 1000
    csv_text = client.get(EXPORT, query_string={"format": "csv"}, headers=admin).data.decode()
    assert csv_text.count("\n") == 10_001
