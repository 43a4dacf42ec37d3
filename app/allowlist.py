"""Who may call /directory and /metrics: the `directory.allow` client networks and the
`directory.credentials` HTTP basic credentials, prepared once per app (`guard_of`).

Its own module because two layers use it: the directory's answer (app/directory/views.py)
and the metrics endpoint (app/metrics/views.py), which is protected like /directory.
"""
import base64
import hashlib
import hmac
import ipaddress
import logging

from app.extensions import per_app
from app.logs import escape

log = logging.getLogger(__name__)

ADDR_MAX = 64  # the longest textual IPv6 address with a zone, with room to spare
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
