"""The OpenAPI document (/openapi.json, OpenAPI 3.1): what it says beyond the views' own decorators.

- Errors: every error fscti answers is {"error", "message", "details"} (component `Error`),
  and each operation lists the errors it can give: 401, and 403 when its role is above viewer
  or it takes include_secrets (from `require_role`); 400, 413 and 415 when it takes a body;
  404 when its path names something; the rest (409, 422, 503, ...) from the view's decorators.
- Path parameters carry the pattern of what they name (app/schemas/patterns.py).
- Input fields carry their rules: the name fields' `openapi` attributes, the sections'
  JSON Schema (app/schemas/section_doc.py).
- The routes outside flask-smorest (/directory, /cli, /healthz, /readyz): app/api/openapi_plain.py.
"""
import flask_smorest
from apispec import BasePlugin

from app.auth import view_role
from app.schemas import patterns
from app.schemas.fields import Section
from app.schemas.out import ErrorSchema
from app.schemas.section_doc import section_schema

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_CONTENT = {"application/json": {"schema": ERROR_REF}}

# Component responses shared by the operations, by status.
ERRORS = {
    "400": ("BadBody", "the body is not a JSON object (empty, not JSON, nested too deeply)"),
    "401": ("Unauthorized", "no valid `Authorization: Bearer <token>`"),
    "403": ("Forbidden", "the token's role is below what the operation needs (or "
                         "include_secrets without the admin role)"),
    "404": ("NotFound", "what the path names does not exist"),
    "413": ("TooLarge", "the body is larger than the server accepts"),
    "415": ("NotJson", "the body is not sent as Content-Type: application/json"),
}

# The rules of each path parameter, by name.
PATH_PARAMS = {
    "domain": ({"type": "string", "maxLength": 253, "pattern": patterns.DOMAIN},
               "the SIP domain (DNS name or IPv4 address, any letter case)"),
    "ext": ({"type": "string", "maxLength": 64, "pattern": patterns.EXTENSION_NAME},
            "the extension (SIP user part)"),
    "name": ({"type": "string", "maxLength": 64, "pattern": patterns.TEMPLATE},
             "the template name"),
    "uuid": ({"type": "string", "pattern": patterns.UUID},
             "the call leg's Unique-ID (lowercase, as FreeSWITCH prints it)"),
    "action_id": ({"type": "string", "pattern": patterns.UUID}, "the action's id (from its 202)"),
    "supervision_id": ({"type": "string", "pattern": patterns.UUID},
                       "the id of the supervise action that started the supervision"),
}

WRITE_METHODS = ("post", "put", "patch")


def field_attributes(_converter, field, **_kwargs) -> dict:
    """Extra JSON Schema of a field: a section's rules, or a name field's `openapi` dict."""
    if isinstance(field, Section):
        return section_schema(field.owner, field.section, field.nullable)
    return dict(getattr(field, "openapi", None) or {})


class ErrorsAndParams(BasePlugin):
    """apispec plugin: the shared error responses and the path parameters' rules."""

    def __init__(self, app):
        self.app = app

    def path_helper(self, path=None, operations=None, parameters=None, **kwargs):
        for param in parameters or []:
            if param.get("in") == "path" and param["name"] in PATH_PARAMS:
                schema, description = PATH_PARAMS[param["name"]]
                param["schema"], param["description"] = dict(schema), description

    def operation_helper(self, path=None, operations=None, rule=None, **kwargs):
        for method, op in (operations or {}).items():
            if not path.startswith("/api/v1/"):
                continue  # the plain routes say everything themselves (openapi_plain)
            responses = op.setdefault("responses", {})
            wanted = ["401"]
            role = view_role(self.app.view_functions[rule.endpoint], method)
            secrets = any(p.get("name") == "include_secrets" for p in op.get("parameters", []))
            if role != "viewer" or secrets:
                wanted.append("403")
            if method in WRITE_METHODS and "requestBody" in op:
                wanted += ["400", "413", "415"]
            if rule.arguments:
                wanted.append("404")
            for code in wanted:
                if code not in responses and int(code) not in responses:
                    responses[code] = {"$ref": f"#/components/responses/{ERRORS[code][0]}"}
            for code, resp in responses.items():
                # an alt_response(409, description=...) without a schema: it is an Error too
                if (isinstance(resp, dict) and str(code)[0] in "45"
                        and not {"$ref", "content"} & resp.keys()):
                    resp["content"] = ERROR_CONTENT


class Api(flask_smorest.Api):
    """flask-smorest's Api with fscti's error shape and the additions above."""

    ERROR_SCHEMA = ErrorSchema

    def _init_spec(self, **options):
        options["extra_plugins"] = [*options.get("extra_plugins", ()), ErrorsAndParams(self._app)]
        super()._init_spec(**options)
        self.ma_plugin.converter.add_attribute_function(field_attributes)
        for name, description in ERRORS.values():
            self.spec.components.response(name, {"description": description,
                                                 "content": ERROR_CONTENT})

    def document_plain_routes(self):
        """Add the routes registered outside flask-smorest (call once they are registered)."""
        from app.api.openapi_plain import PATHS, SCHEMAS, SECURITY_SCHEMES

        for name, schema in SCHEMAS.items():
            self.spec.components.schema(name, schema=schema)
        for name, scheme in SECURITY_SCHEMES.items():
            self.spec.components.security_scheme(name, scheme)
        rules = {rule.rule: rule for rule in self._app.url_map.iter_rules()}
        for path, operations in PATHS.items():
            self.spec.path(rule=rules[path], operations=operations)
