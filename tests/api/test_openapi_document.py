"""/openapi.json itself: every route is in it, every error it documents is fscti's error shape,
every path parameter carries its rule, and the bodies it describes are the ones answered."""
import re

import pytest

# Routes that are the document and its viewer, not the API.
NOT_API = {"/static/<path:filename>", "/openapi.json", "/docs", "/docs/assets/<name>"}
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.fixture(scope="module")
def spec(app):
    return app.test_client().get("/openapi.json").get_json()


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield path, method, op


def _resolve(spec, obj):
    while "$ref" in obj:
        kind, name = obj["$ref"].split("/")[-2:]
        obj = spec["components"][kind][name]
    return obj


def test_every_route_of_the_app_is_in_the_document(app, spec):
    missing = []
    for rule in app.url_map.iter_rules():
        # /console is the browser console's (session cookie, CSRF; docs/console.md), not the API
        if rule.rule in NOT_API or rule.rule.startswith("/console"):
            continue
        path = _openapi_path(rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            if method.lower() not in spec["paths"].get(path, {}):
                missing.append(f"{method} {path}")
    assert missing == []
    assert spec["openapi"] == "3.1.0"


def test_the_error_schema_is_fsctis(spec):
    error = spec["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"error", "message", "details"}
    assert set(error["required"]) == {"error", "message", "details"}
    assert error["additionalProperties"] is False


def test_every_documented_json_error_is_the_error_schema(spec):
    wrong = []
    for path, method, op in _operations(spec):
        for status, response in op["responses"].items():
            if status != "default" and status[0] not in "45":
                continue
            content = _resolve(spec, response).get("content", {})
            if "application/json" in content:
                if content["application/json"]["schema"] != {"$ref": "#/components/schemas/Error"} \
                        and path not in ("/readyz", "/api/v1/health"):  # the report itself
                    wrong.append(f"{method} {path} {status}")
            elif "text/plain" not in content:
                wrong.append(f"{method} {path} {status}: no content")
    assert wrong == []


def test_api_operations_document_auth_and_body_errors(spec):
    for path, method, op in _operations(spec):
        if not path.startswith("/api/v1/"):
            continue
        assert "401" in op["responses"], (method, path)
        if method in ("post", "put", "patch"):
            assert {"400", "413", "415"} <= set(op["responses"]), (method, path)
    # admin-only and include_secrets operations can be 403; a viewer operation cannot
    assert "403" in spec["paths"]["/api/v1/domains"]["post"]["responses"]
    assert "403" in spec["paths"]["/api/v1/domains/{domain}"]["get"]["responses"]
    assert "403" not in spec["paths"]["/api/v1/calls"]["get"]["responses"]


def test_an_actual_error_has_exactly_the_documented_fields(client, spec):
    body = client.get("/api/v1/domains").get_json()
    assert set(body) == set(spec["components"]["schemas"]["Error"]["properties"])


def test_every_path_parameter_has_its_rule(spec):
    for path, item in spec["paths"].items():
        for param in item.get("parameters", []):
            if param["in"] == "path":
                assert param["schema"].get("pattern"), (path, param["name"])


def test_names_and_sections_carry_their_rules(spec):
    schemas = spec["components"]["schemas"]
    ext = schemas["ExtensionCreate"]["properties"]
    assert ext["name"]["pattern"].startswith("^") and ext["name"]["maxLength"] == 64
    param = ext["param"]
    assert param["propertyNames"]["pattern"] and param["maxProperties"] == 256
    assert "^[pP][aA][sS][sS][wW][oO][rR][dD]$" in param["patternProperties"]
    attribute = ext["attribute"]["patternProperties"]
    assert attribute["^[iI][dD]$"]["not"] == {}  # reserved: never settable
    # a write's name comes from the URL: readOnly, so generated requests leave it out
    assert schemas["ExtensionWrite"]["properties"]["name"]["readOnly"] is True
    query = {p["name"]: p for p in spec["paths"]["/api/v1/templates"]["get"]["parameters"]}
    assert query["q"]["schema"]["pattern"] == r"^[^\u0000-\u001f\u007f]*$"


def test_csv_export_and_import_are_documented(spec):
    export = spec["paths"]["/api/v1/domains/{domain}/extensions/export"]["get"]
    assert {"application/json", "text/csv"} <= set(export["responses"]["200"]["content"])
    body = spec["paths"]["/api/v1/domains/{domain}/extensions/import"]["post"]["requestBody"]
    assert {"application/json", "text/csv", "application/csv"} == set(body["content"])


def test_the_plain_routes_are_documented(spec):
    directory = spec["paths"]["/directory"]["post"]
    assert "application/x-www-form-urlencoded" in directory["requestBody"]["content"]
    assert "text/xml" in directory["responses"]["200"]["content"]
    assert {"401", "403", "413", "503"} <= set(directory["responses"])
    cli = spec["paths"]["/cli"]
    assert {p["name"] for p in cli["get"]["parameters"]} == {"key", "cmd", "arg", "node"}
    assert cli["get"]["security"] == []
    assert "text/plain" in cli["get"]["responses"]["200"]["content"]
    assert spec["paths"]["/readyz"]["get"]["responses"]["503"]


def test_the_documenting_schemas_produce_the_bodies(client, admin, spec):
    """A body has exactly the properties its schema documents (they dump it)."""
    r = client.post("/api/v1/domains", headers=admin, json={"name": "pbx.example.com"})
    out = spec["components"]["schemas"]["DomainOut"]["properties"]
    assert set(r.get_json()) == set(out) - {"mirror"}  # `mirror` only in a 202
    r = client.get("/api/v1/domains", headers=admin)
    assert set(r.get_json()) == set(spec["components"]["schemas"]["DomainPage"]["properties"])
    assert set(client.get("/readyz").get_json()) == set(
        spec["components"]["schemas"]["Ready"]["properties"])
