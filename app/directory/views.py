"""POST /directory (and GET): mod_xml_curl's directory binding. See docs/freeswitch.md.

Thin on purpose: guard (client-IP allowlist, HTTP basic auth), read the raw body, parse the few
fields needed, answer from app.directory.lookup. Any non-200 makes FreeSWITCH fall back to its
static XML directory, so failures are logged loudly.

`respond(app, environ)` is the whole answer, with no Flask request context: the WSGI middleware
app.directory.wsgi calls it before Flask for the requests mod_xml_curl sends, and the Flask
route below calls it for the rest (HEAD, a chunked body), so both paths answer alike.
"""
import logging

from flask import Blueprint, Response, current_app, request

from app.allowlist import TEXT_TYPE, guard_of
from app.directory import xml
from app.directory.form import parse
from app.directory.lookup import directory as get_directory
from app.logs import escape
from app.metrics.directory import meter, OUTCOME

REFUSED = OUTCOME["refused"]

log = logging.getLogger(__name__)

bp = Blueprint("directory", __name__)

MAX_BODY = 65536
XML_TYPE = "text/xml; charset=utf-8"


def raw_form(environ, stream=None) -> bytes | None:
    """The form as bytes: the POST body, or the query string of a GET; None if too large.
    A body without Content-Length (chunked) is read from `stream()` (Flask's limited stream)."""
    if environ["REQUEST_METHOD"] != "POST":
        return environ.get("QUERY_STRING", "").encode("latin-1")
    length = environ.get("CONTENT_LENGTH")
    if length:
        n = int(length)
        if n > MAX_BODY:
            return None
        return environ["wsgi.input"].read(n)
    data = (stream or (lambda: request.stream))().read(MAX_BODY + 1)
    return None if len(data) > MAX_BODY else data


def respond(app, environ, stream=None) -> tuple:
    """Answer one mod_xml_curl directory lookup: (status, body, content type, extra headers)."""
    refused = guard_of(app).check(environ)
    if refused is not None:
        meter.count(REFUSED)
        return refused
    raw = raw_form(environ, stream)
    if raw is None:
        meter.count(REFUSED)
        return 413, b"request too large\n", TEXT_TYPE, ()
    q = parse(raw)
    d = get_directory(app)
    try:
        body = d.answer(q)
    except Exception:
        # Redis and SQL both failed. Refusing the user is safer than a non-200, which would make
        # FreeSWITCH fall back to its static directory (vanilla users with password 1234).
        log.exception("directory: cannot answer %s@%s", escape(q.user), escape(q.domain))
        head = d.heads.known(q.domain)
        if head is None:
            return 503, b"directory unavailable\n", TEXT_TYPE, ()
        body = xml.document(head)
    return 200, body, XML_TYPE, ()


@bp.route("/directory", methods=["POST", "GET"])
def directory():
    """Answer one mod_xml_curl directory lookup (what app.directory.wsgi leaves to Flask)."""
    status, body, ctype, headers = respond(current_app._get_current_object(), request.environ,
                                           lambda: request.stream)
    resp = Response(body, status, headers=list(headers))
    resp.headers["Content-Type"] = ctype
    return resp
