"""/cli: the mod_cti httpcli-compatible gateway (`GET|POST /cli?key=…&cmd=…&arg=…[&node=…]`).

Outside /api/v1, with its own key check (`cli.keys` / FSCTI_CLI_KEYS). Replies are
FreeSWITCH's text; the gateway's own refusals are text too, starting with `-ERR fscti:`.
What is parsed and how each request is rebuilt: app/services/httpcli.py.

The fields come from the query string, then (POST) from an application/x-www-form-urlencoded
body; the query wins, as in werkzeug's `request.values`. A key in the query is checked before
any body byte is read; a body is read only up to FORM_MAX (its Content-Length is checked
first). Both are decoded strictly: a byte that is not UTF-8 is a 400 saying so, never a field
silently dropped or changed.
"""
import logging
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, request

from app.logs import escape
from app.services import audit
from app.services.httpcli import GatewayError, check_text, execute, key_id, key_matches, plan, route
from app.services.nodes import Refused
from app.services.time import server_time

log = logging.getLogger("fscti.cli")

bp = Blueprint("cli_gateway", __name__)

# Bytes of a POST form: the longest arg (ARG_MAX characters, 3 bytes each when
# percent-encoded), a key and the other fields fit several times over.
FORM_MAX = 16384
FORM_TYPE = "application/x-www-form-urlencoded"
FIELDS_MAX = 32


class FormRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _text(status: int, body: str) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def _refusal(status: int, message: str) -> Response:
    return _text(status, f"-ERR fscti: {message}\n")


def _fields(raw: bytes, where: str) -> dict[str, str]:
    """The first value of each field of an urlencoded `raw`, decoded strictly as UTF-8."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, errors="strict",
                          max_num_fields=FIELDS_MAX)
    except UnicodeDecodeError:
        raise FormRefused(400, f"the {where} is not UTF-8 (send every field UTF-8, "
                               f"percent-encoded)") from None
    except ValueError:
        raise FormRefused(400, f"the {where} has more than {FIELDS_MAX} fields") from None
    out: dict[str, str] = {}
    for name, value in pairs:
        out.setdefault(name, value)
    return out


def _has_body() -> bool:
    return bool(request.content_length) or (
        request.content_length is None
        and "chunked" in request.headers.get("Transfer-Encoding", "").lower())


def _body_fields() -> dict[str, str]:
    """The POST form's fields; nothing is read beyond FORM_MAX bytes."""
    if request.method != "POST" or not _has_body():
        return {}
    if request.mimetype != FORM_TYPE:
        raise FormRefused(415, f"send the form as {FORM_TYPE} (or the fields in the query)")
    too_large = FormRefused(413, f"the form is larger than {FORM_MAX} bytes")
    if (request.content_length or 0) > FORM_MAX:
        raise too_large  # decided from Content-Length: nothing is read
    # A chunked body has no length: read one byte past the limit, never more.
    raw, stream = b"", request.stream
    while len(raw) <= FORM_MAX and (chunk := stream.read(FORM_MAX + 1 - len(raw))):
        raw += chunk
    if len(raw) > FORM_MAX:
        raise too_large
    return _fields(raw, "form")


def _unknown_key(key: str) -> Response | None:
    """The 401 for a missing or wrong key, else None."""
    if not key:
        return _refusal(401, "key is required")
    if not key_matches(key, current_app.config["FSCTI"].cli_keys):
        # Not written to SQL: unauthenticated callers must not be able to fill the audit.
        log.warning("/cli: invalid key from %s", escape(request.remote_addr))
        return _refusal(401, "invalid key")
    return None


@bp.route("/cli", methods=["GET", "POST"])
def cli():
    """Run one allowed FreeSWITCH command for a caller holding a gateway key."""
    settings = current_app.config["FSCTI"]
    if not settings.cli_keys:
        return _refusal(403, "the /cli gateway is disabled: no cli.keys are configured")
    try:
        values = _fields(request.environ.get("QUERY_STRING", "").encode("latin-1"),
                         "query string")
        key_in_query = "key" in values
        if not key_in_query:
            values = {**_body_fields(), **values}
        key = values.get("key", "")
        if (refused := _unknown_key(key)) is not None:
            return refused
        if key_in_query:  # checked before reading the body
            values = {**_body_fields(), **values}
    except FormRefused as exc:
        return _refusal(exc.status, exc.message)
    actor = key_id(key)
    cmd, arg, node = values.get("cmd", ""), values.get("arg", ""), values.get("node") or None
    detail = {"cmd": cmd, "arg": arg, "ip": request.remote_addr}
    try:
        if not cmd:
            raise GatewayError("cmd is required")
        if node:
            check_text("node", node)
        p = plan(cmd, arg, settings.cli_commands)
        if p.command == "strmicroepoch" and not p.background:
            node_name, text, job = *server_time(node), None
        else:
            target = route(p, node)
            node_name = target.name
            text, job = execute(p, target)
    except Refused as exc:
        outcome = "failed" if exc.status >= 500 else "rejected"
        audit.record(actor, f"cli:{cmd}", None, node, detail,
                     f"{outcome}: {exc.status} {exc.message}")
        return _refusal(exc.status, exc.message)
    detail.update(command=f"{'bgapi' if p.background else 'api'} {p.command}", job_uuid=job)
    audit.record(actor, f"cli:{cmd}", p.target_uuid, node_name, detail,
                 "replied: " + (text.strip().splitlines() or [""])[0])
    return _text(200, text)
