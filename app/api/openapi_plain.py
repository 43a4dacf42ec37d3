"""/openapi.json for the routes outside /api/v1: /directory, /cli, /healthz, /readyz, /metrics.

Plain Flask views (no flask-smorest decorators), so their operations are written here, next to
nothing else; tests/api/test_openapi_document.py fails when a route of the app is missing from
the document.
"""
from app.api.health import HealthOut, ReadyOut
from app.config.access import CLI_COMMANDS, DEFAULT_CLI_COMMANDS
from app.directory.views import MAX_BODY

SCHEMAS = {"Health": HealthOut, "Ready": ReadyOut}
SECURITY_SCHEMES = {"directoryBasic": {
    "type": "http", "scheme": "basic",
    "description": "only when `directory.credentials` is set (FreeSWITCH's "
                   "gateway-credentials in xml_curl.conf.xml)"}}

TEXT = {"type": "string"}


def _text(description: str) -> dict:
    return {"description": description, "content": {"text/plain": {"schema": TEXT}}}


# --- /directory ---------------------------------------------------------------------------

DIRECTORY_FIELDS = {
    "hostname": "the FreeSWITCH host name",
    "section": "`directory` (other sections are answered `not found`)",
    "tag_name": "`domain` for a user lookup",
    "key_name": "`name`",
    "key_value": "the domain asked for",
    "key": "`id`, or `number-alias` when FreeSWITCH retries by alias",
    "user": "the SIP user asked for (absent: a domain lookup)",
    "domain": "the domain asked for",
    "purpose": "for a domain lookup: gateways, network-list, publish-vm, ...",
    "action": "sip_auth, user_call, message-count, ...",
    "ip": "the address of the SIP request",
}
DIRECTORY_FORM = {
    "type": "object",
    "properties": {name: {"type": "string", "description": d}
                   for name, d in DIRECTORY_FIELDS.items()},
    "additionalProperties": {"type": "string", "description": "event headers FreeSWITCH adds"},
    "description": (
        "mod_xml_curl's form: the five leading fields unencoded, then the request's event "
        "headers URL-encoded, then `key`, `user`, `domain` (and `ip`) last; the last "
        f"occurrence of those counts. At most {MAX_BODY} bytes."),
}
DIRECTORY_RESPONSES = {
    "200": {"description": (
        "the mod_xml_curl document: the domain with the user (its effective params, "
        "variables and attributes), the domain alone, or `<result status=\"not found\"/>`. "
        "Always 200 once allowed: any other status makes FreeSWITCH fall back to its static "
        "XML directory"),
        "content": {"text/xml": {"schema": TEXT}}},
    "401": _text("`directory.credentials` is set and the request's basic credentials are "
                 "missing or wrong"),
    "403": _text("the client address is not in `directory.allow` (default: loopback and private "
                 "networks, or any address once credentials are set)"),
    "413": _text(f"the form is larger than {MAX_BODY} bytes"),
    "503": _text("neither Redis nor SQL answered and the domain is not known from before"),
}
DIRECTORY_OP = {
    "tags": ["directory"],
    "security": [{}, {"directoryBasic": []}],
    "responses": DIRECTORY_RESPONSES,
}

# --- /cli ---------------------------------------------------------------------------------

CLI_HELP = (
    "mod_cti's httpcli gateway: runs one allowed FreeSWITCH command, rebuilt from validated "
    "parts, on one node. `cmd` must be in `cli.commands` (default: "
    f"{', '.join(DEFAULT_CLI_COMMANDS)}). Forms: `cti_timestamp`; `uuid_kill` arg `<uuid> "
    "[<CAUSE>]`; `show` arg `<table> [count] [as json|xml]`; `status`; `bgapi` arg one of "
    "those or an originate form (`[cti_]originate [{vars}]user/<ext>[@<domain>] "
    "&eavesdrop(<uuid>)`, `&three_way(<uuid>)`, `[set:<var>=<value>,...]eavesdrop:<uuid> "
    "inline`, `three_way:<uuid> inline`); `api` arg one of the direct ones. The reply is "
    "FreeSWITCH's text; the gateway's own refusals start with `-ERR fscti:`. Every request "
    "with a valid key is audited.")
ESL_TEXT = {"type": "string", "maxLength": 1024, "pattern": r"^[^\r\n\u0000]*$"}
CLI_FIELDS = {
    "key": ({"type": "string", "minLength": 8, "maxLength": 256},
            "a gateway key (`cli.keys` / FSCTI_CLI_KEYS)"),
    "cmd": ({"type": "string", "enum": list(CLI_COMMANDS)}, "the command"),
    "arg": (ESL_TEXT, "its argument (see above)"),
    "node": ({**ESL_TEXT, "minLength": 1}, "the FreeSWITCH node (default: the call's node in "
                                           "the live state, else the first)"),
}
CLI_RESPONSES = {
    "200": {"description": "FreeSWITCH's reply (`+OK ...`, `-ERR ...` or the command's "
                           "output; `+OK Job-UUID: <uuid>` for bgapi)",
            "content": {"text/plain": {"schema": TEXT}}},
    "400": _text("`-ERR fscti: ...`: cmd missing, or an argument the gateway does not accept "
                 "(CR, LF, NUL, a form it does not know)"),
    "401": _text("`-ERR fscti: ...`: key missing or not a configured key"),
    "403": _text("`-ERR fscti: ...`: the gateway is disabled (no cli.keys) or cmd is not in "
                 "cli.commands"),
    "404": _text("`-ERR fscti: unknown node ...`: `node` names no configured node"),
    "413": _text("the form is larger than the server accepts"),
    "503": _text("`-ERR fscti: ...`: no FreeSWITCH node answered"),
}


def _cli_params() -> list[dict]:
    return [{"in": "query", "name": name, "required": name in ("key", "cmd"),
             "schema": schema, "description": description}
            for name, (schema, description) in CLI_FIELDS.items()]


CLI_FORM = {"type": "object", "required": ["key", "cmd"],
            "properties": {name: {**schema, "description": description}
                           for name, (schema, description) in CLI_FIELDS.items()}}

PATHS = {
    "/directory": {
        "post": {**DIRECTORY_OP, "summary": "mod_xml_curl directory lookup",
                 "description": "FreeSWITCH's xml_curl binding for the directory section "
                                "(docs/freeswitch.md).",
                 "requestBody": {"required": True, "content": {
                     "application/x-www-form-urlencoded": {"schema": DIRECTORY_FORM}}}},
        "get": {**DIRECTORY_OP, "summary": "mod_xml_curl directory lookup (the form in the "
                                           "query string)",
                "parameters": [{"in": "query", "name": name, "schema": TEXT, "description": d}
                               for name, d in DIRECTORY_FIELDS.items()]},
    },
    "/cli": {
        "get": {"tags": ["cli"], "security": [], "summary": "FreeSWITCH command gateway",
                "description": CLI_HELP, "parameters": _cli_params(),
                "responses": CLI_RESPONSES},
        "post": {"tags": ["cli"], "security": [], "summary": "FreeSWITCH command gateway (form)",
                 "description": CLI_HELP,
                 "requestBody": {"required": True, "content": {
                     "application/x-www-form-urlencoded": {"schema": CLI_FORM}}},
                 "responses": CLI_RESPONSES},
    },
    "/healthz": {"get": {"tags": ["health"], "security": [],
                         "summary": "liveness: the process is up",
                         "responses": {"200": {"description": "up", "content": {
                             "application/json": {"schema": "Health"}}}}}},
    "/readyz": {"get": {"tags": ["health"], "security": [],
                        "summary": "readiness: SQL and Redis answer; broker, listener and "
                                   "nodes reported",
                        "responses": {
                            "200": {"description": "ready (`status` ok, or degraded when the "
                                                   "broker, a listener or a node is not well)",
                                    "content": {"application/json": {"schema": "Ready"}}},
                            "503": {"description": "SQL or Redis does not answer (`checks` "
                                                   "says which)",
                                    "content": {"application/json": {"schema": "Ready"}}}}}},
    "/metrics": {"get": {"tags": ["health"], "security": [],
                         "summary": "Prometheus metrics (text format); clients in directory.allow "
                                    "only (docs/operations.md lists every metric)",
                         "responses": {
                             "200": {"description": "the metrics", "content": {
                                 "text/plain": {"schema": TEXT}}},
                             "403": _text("the client is not in `directory.allow`")}}},
}
