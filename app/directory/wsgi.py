"""The directory's WSGI middleware: `/directory` answered before Flask's request context.

mod_xml_curl asks synchronously inside FreeSWITCH's SIP handling, so the directory's CPU and
latency are FreeSWITCH's REGISTER throughput. Flask's request machinery (request and app
contexts, URL matching, before/after hooks, a Response object) is most of the cost of a lookup
that needs none of it, so `create_app` installs `DirectoryDispatch` on the app itself
(`app.wsgi_app`, inside `TrustedProxies` when `web.trusted_proxies` is set, so the allowlist
judges the same client address). It answers the requests mod_xml_curl sends, a GET or a POST
with a Content-Length to exactly `/directory`, with the same code as the Flask route
(app.directory.views.respond): the same guard (allowlist, credentials), the same 64 KiB limit,
the same answers and log lines; gunicorn's access log is written around any WSGI app, so it
is unchanged. Everything else (HEAD, OPTIONS, a chunked body, any other path) goes to Flask as
before. An unexpected exception is answered by the app's own error handler (app/errors.py: the
JSON 500, the session rolled back, "unhandled error" logged) inside a request context made for
it then. No app context is pushed for a lookup Redis answers; SQL's lookups push one
(app.directory.lookup).
"""
from werkzeug.http import HTTP_STATUS_CODES

from app.directory import views

PATH = "/directory"
_STATUS = {code: f"{code} {HTTP_STATUS_CODES[code].upper()}" for code in (200, 401, 403, 413, 503)}


class DirectoryDispatch:
    """WSGI middleware answering mod_xml_curl's `/directory` requests without Flask."""

    def __init__(self, app, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app
        # path -> WSGI callable answered here, before Flask, for a GET or a sized POST
        self.routes = {PATH: self.directory}

    def __call__(self, environ, start_response):
        handler = self.routes.get(environ.get("PATH_INFO"))
        if handler is not None:
            method = environ.get("REQUEST_METHOD")
            if method == "GET" or (method == "POST" and environ.get("CONTENT_LENGTH")):
                return handler(environ, start_response)
        return self.wsgi_app(environ, start_response)

    def directory(self, environ, start_response):
        try:
            status, body, ctype, extra = views.respond(self.app, environ)
        except Exception as exc:  # what the Flask route would have raised: Flask's handler answers
            with self.app.request_context(environ):
                response = self.app.finalize_request(self.app.handle_user_exception(exc))
            return response(environ, start_response)
        start_response(_STATUS[status], [*extra, ("Content-Type", ctype), ("Content-Length", str(len(body)))])
        return [body]


def install(app) -> None:
    """Put DirectoryDispatch in front of the app's WSGI callable."""
    app.wsgi_app = DirectoryDispatch(app, app.wsgi_app)
