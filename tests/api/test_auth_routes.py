"""Every /api/v1 route, every method: no token → 401; a viewer token cannot write (403)."""
import re

import pytest

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def api_calls(app):
    """(method, concrete path) for every /api/v1 rule, path arguments filled with dummies."""
    calls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: f"x{m.group(1)}1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            calls.append((method, path))
    return calls


def test_the_walk_covers_the_directory_api(app):
    calls = set(api_calls(app))
    for expected in [("GET", "/api/v1/domains"), ("POST", "/api/v1/domains"),
                     ("PUT", "/api/v1/domains/xdomain1"), ("PATCH", "/api/v1/templates/xname1"),
                     ("DELETE", "/api/v1/domains/xdomain1/extensions/xext1"),
                     ("GET", "/api/v1/domains/xdomain1/extensions/xext1/effective"),
                     ("POST", "/api/v1/domains/xdomain1/extensions/import"),
                     ("GET", "/api/v1/domains/xdomain1/extensions/export")]:
        assert expected in calls


@pytest.mark.parametrize("auth", [None, "Bearer", "Bearer ", "Bearer nope", "Basic YTpi",
                                  "Token test-bootstrap-admin-token",
                                  "Bearertest-bootstrap-admin-token"])
def test_no_route_answers_without_a_valid_token(app, client, auth):
    headers = {"Authorization": auth} if auth is not None else {}
    for method, path in api_calls(app):
        r = client.open(path, method=method, json={}, headers=headers)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.json["error"] == "unauthorized"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_viewer_tokens_cannot_write(app, client, tokens):
    for method, path in api_calls(app):
        if method not in WRITES:
            continue
        r = client.open(path, method=method, json={}, headers=tokens["viewer"])
        assert r.status_code == 403, (method, path, r.status_code)
        assert r.json["error"] == "forbidden"


def test_viewer_reads_the_directory_and_admin_writes(client, tokens):
    admin, viewer = tokens["admin"], tokens["viewer"]
    assert client.post("/api/v1/domains", json={"name": "a.example.com"},
                       headers=admin).status_code == 201
    for path in ["/api/v1/domains", "/api/v1/domains/a.example.com", "/api/v1/templates",
                 "/api/v1/domains/a.example.com/extensions",
                 "/api/v1/domains/a.example.com/extensions/export"]:
        assert client.get(path, headers=viewer).status_code == 200, path
    r = client.post("/api/v1/domains/a.example.com/extensions", json={"name": "1001"},
                    headers=tokens["supervisor"])
    assert r.status_code == 403


def test_unknown_api_paths_also_need_a_token(client):
    assert client.get("/api/v1/no-such-thing").status_code == 401


def test_openapi_documents_the_directory_api(client):
    spec = client.get("/openapi.json").json
    for path in ["/api/v1/domains", "/api/v1/domains/{domain}", "/api/v1/templates",
                 "/api/v1/templates/{name}", "/api/v1/domains/{domain}/extensions",
                 "/api/v1/domains/{domain}/extensions/{ext}",
                 "/api/v1/domains/{domain}/extensions/{ext}/effective",
                 "/api/v1/domains/{domain}/extensions/import",
                 "/api/v1/domains/{domain}/extensions/export"]:
        assert path in spec["paths"], path
    post = spec["paths"]["/api/v1/domains/{domain}/extensions"]["post"]
    assert "requestBody" in post and "201" in post["responses"]
    props = spec["components"]["schemas"]["ExtensionCreate"]["properties"]
    assert {"name", "template", "enabled", "param", "variable", "attribute"} <= set(props)
