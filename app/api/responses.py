"""Request guards and response shapes shared by the directory API (domains, templates,
extensions): JSON bodies only, page envelopes, secrets only for admins."""
import json
import math
from datetime import datetime
from urllib.parse import urlencode

from flask import g, jsonify, request, url_for

from app.errors import Forbidden, error_response

WRITE_METHODS = ("POST", "PUT", "PATCH")
JSON_DEPTH = 8


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")


def _depth(value, level=0) -> int:
    if level > JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def check_json_body(allow_csv: bool = False, allow_list: bool = False):
    """Reject (4xx) a write whose body is not a JSON object, before webargs parses it.

    webargs would let non-JSON content types through as an empty body, and some JSON makes
    Python's parser raise errors webargs does not catch (huge integers, deep nesting).
    """
    if request.method not in WRITE_METHODS:
        return None
    mimetype = request.mimetype or ""
    if allow_csv and mimetype in ("text/csv", "application/csv"):
        return None
    if not (mimetype == "application/json" or mimetype.endswith("+json")):
        return error_response(415, "unsupported_media_type",
                              "send the body as Content-Type: application/json"
                              + (" or text/csv" if allow_csv else ""))
    raw = request.get_data(cache=True)
    if not raw.strip():
        return error_response(400, "bad_request", "the request body is empty (send {} to change "
                                                  "nothing)")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        return error_response(400, "bad_request", f"the body is not valid JSON: {exc}"[:300])
    if _depth(body) > JSON_DEPTH:
        return error_response(400, "bad_request", "the body is nested too deeply")
    if isinstance(body, list) and allow_list:
        return None
    if not isinstance(body, dict):
        return error_response(400, "bad_request",
                              "the body must be a JSON object" + (" or list" if allow_list else ""))
    return None


def want_secrets(flag: bool) -> bool:
    """Secrets are shown only to admins who ask (?include_secrets=true); others get 403."""
    if flag and getattr(g, "role", None) != "admin":
        raise Forbidden("include_secrets needs the admin role")
    return bool(flag)


def json_response(body, status: int = 200, location: str | None = None):
    resp = jsonify(body)
    resp.status_code = status
    if location:
        resp.headers["Location"] = location
    return resp


QUEUED_HELP = ("saved; its many dependent extensions are re-mirrored (then flushed) by a "
               "task: the body adds `mirror` {status: queued, task, task_id, extensions}")


def queued_response(body: dict, queued):
    """202: the change is committed, its re-mirror queued (`mirror` says which task)."""
    return json_response({**body, "mirror": queued.as_dict()}, 202)


def _query_text(value) -> str:
    """A validated query value as it goes back into a link."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def page_response(items: list, total: int, args: dict, dump):
    """The page envelope {items, total, page, per_page, pages, links}.

    Links are built from the validated `args` only, appended as a query string after the
    path: a raw query key could collide with a path variable or with url_for's own keywords
    (`endpoint`, `_method`, `_external`...) and turn a harmless request into a 500.
    """
    page, per_page = args["page"], args["per_page"]
    pages = max(1, math.ceil(total / per_page))
    path = url_for(request.endpoint, **(request.view_args or {}))
    query = [(k, _query_text(v)) for k, v in args.items()
             if k not in ("page", "per_page") and v is not None]

    def link(p):
        return f"{path}?{urlencode(query + [('page', p), ('per_page', per_page)])}"

    return json_response({
        "items": [dump(x) for x in items],
        "total": total,
        "page": page,
        "per_page": per_page,
        "pages": pages,
        "links": {"self": link(page), "first": link(1), "last": link(pages),
                  "prev": link(page - 1) if page > 1 else None,
                  "next": link(page + 1) if page < pages else None},
    })
