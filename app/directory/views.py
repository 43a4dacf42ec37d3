"""POST /directory (and GET): mod_xml_curl's directory binding. See docs/freeswitch.md.

Thin on purpose: guard (client-IP allowlist, HTTP basic auth), read the raw body, parse the few
fields needed, answer from app.directory.lookup. Any non-200 makes FreeSWITCH fall back to its
static XML directory, so failures are logged loudly.

`respond(app, environ)` is the whole answer, with no Flask request context: the WSGI middleware
app.directory.wsgi calls it before Flask for the requests mod_xml_curl sends, and the Flask
route below calls it for the rest (HEAD, a chunked body), so both paths answer alike.
"""
import base64
import hashlib
import hmac
import ipaddress
import logging

from flask import Blueprint, Response, current_app, request

from app.directory import xml
from app.directory.form import parse
from app.directory.lookup import directory as get_directory
from app.extensions import per_app
from app.logs import escape
from app.metrics.directory import meter, OUTCOME

REFUSED = OUTCOME["refused"]

log = logging.getLogger(__name__)

bp = Blueprint("directory", __name__)

MAX_BODY = 65536
ADDR_MAX = 64  # the longest textual IPv6 address with a zone, with room to spare
XML_TYPE = "text/xml; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
GUARD_KEY = "fscti-directory-guard"


class Guard:
    """The allowlist and credentials of `directory` settings, prepared once per app."""

    def __init__(self, settings):
        self.networks = list(settings.directory_allow or [])
        creds = settings.directory_credentials or ""
        self.digest = hashlib.sha256(creds.encode()).digest() if creds else None
        self._seen: dict[str, bool] = {}

    def allowed(self, addr: str) -> bool:
        ok = self._seen.get(addr)
        if ok is None:
            try:
                ip = ipaddress.ip_address(addr)
                ok = any(ip in net for net in self.networks)
            except ValueError:
                ok = False
            if len(self._seen) > 4096:
                self._seen.clear()
            if len(addr) <= ADDR_MAX:  # behind a trusted proxy the address is header text
                self._seen[addr] = ok
        return ok

    def authorized(self, header: str) -> bool:
        """Basic credentials, compared as SHA-256 digests in constant time."""
        scheme, _, token = header.partition(" ")
        try:
            given = base64.b64decode(token.strip(), validate=True) if scheme.lower() == "basic" else b""
        except ValueError:
            given = b""
        return hmac.compare_digest(hashlib.sha256(given).digest(), self.digest)

    def check(self, environ) -> tuple | None:
        """None when the request may proceed, else the 403/401 answer (as `respond` gives it)."""
        if self.networks and not self.allowed(environ.get("REMOTE_ADDR", "")):
            log.warning("directory: refused %s (not in directory.allow); FreeSWITCH will fall back "
                        "to its static directory", escape(environ.get("REMOTE_ADDR")))
            return 403, b"forbidden\n", TEXT_TYPE, ()
        if self.digest is not None and not self.authorized(environ.get("HTTP_AUTHORIZATION", "")):
            log.warning("directory: bad or missing credentials from %s (check gateway-credentials); "
                        "FreeSWITCH will fall back to its static directory",
                        escape(environ.get("REMOTE_ADDR")))
            return (401, b"unauthorized\n", TEXT_TYPE,
                    (("WWW-Authenticate", 'Basic realm="fscti directory"'),))
        return None


def guard_of(app) -> Guard:
    """`app`'s allowlist and credentials guard (built from its settings on first use)."""
    return per_app(app, GUARD_KEY, _new_guard)


def _new_guard(app) -> Guard:
    return Guard(app.config["FSCTI"])


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
