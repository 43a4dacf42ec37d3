"""Request guards and response pieces shared by the directory API (domains, templates,
extensions): JSON bodies only, page envelopes, write statuses, secrets only for admins.

The bodies themselves are dumped by the views' `@blp.response` schemas (app/schemas/out.py).
"""
import json
import math
from datetime import datetime
from urllib.parse import urlencode

from flask import g, request, url_for

from app.errors import Forbidden, error_response
from app.schemas.out import WithMirror, show_secrets

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


def want_secrets(flag: bool) -> None:
    """Secrets are shown only to admins who ask (?include_secrets=true); others get 403."""
    if flag and getattr(g, "role", None) != "admin":
        raise Forbidden("include_secrets needs the admin role")
    if flag:
        show_secrets()


QUEUED_HELP = ("saved; its many dependent extensions are re-mirrored (then flushed) by a "
               "task: the body adds `mirror` {status: queued, task, task_id, extensions}")


def written(obj, queued=None, location: str | None = None):
    """What a write answers: 202 with `mirror` when a task re-mirrors its dependents, else
    201 with Location when it created `obj`, else 200 (the view's schema dumps `obj`)."""
    if queued is not None:
        return WithMirror(obj, queued), 202
    if location:
        return obj, 201, {"Location": location}
    return obj


def _query_text(value) -> str:
    """A validated query value as it goes back into a link."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def page(items: list, total: int, args: dict) -> dict:
    """The page envelope {items, total, page, per_page, pages, links}, dumped by `page_of`.

    Links are built from the validated `args` only, appended as a query string after the
    path: a raw query key could collide with a path variable or with url_for's own keywords
    (`endpoint`, `_method`, `_external`...) and turn a harmless request into a 500.
    """
    page_no, per_page = args["page"], args["per_page"]
    pages = max(1, math.ceil(total / per_page))
    path = url_for(request.endpoint, **(request.view_args or {}))
    query = [(k, _query_text(v)) for k, v in args.items()
             if k not in ("page", "per_page") and v is not None]

    def link(p):
        return f"{path}?{urlencode(query + [('page', p), ('per_page', per_page)])}"

    return {
        "items": items,
        "total": total,
        "page": page_no,
        "per_page": per_page,
        "pages": pages,
        "links": {"self": link(page_no), "first": link(1), "last": link(pages),
                  "prev": link(page_no - 1) if page_no > 1 else None,
                  "next": link(page_no + 1) if page_no < pages else None},
    }
