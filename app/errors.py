"""Domain exceptions and the one JSON error shape: {"error", "message", "details"}."""
import logging

import redis

from flask import jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

log = logging.getLogger(__name__)


class AppError(Exception):
    """Base of the errors the API reports to its caller."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class BadRequest(AppError):
    status, code = 400, "bad_request"


class Unauthorized(AppError):
    status, code = 401, "unauthorized"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class ValidationFailed(AppError):
    status, code = 422, "validation_failed"


class Unavailable(AppError):
    status, code = 503, "unavailable"


def error_response(status: int, code: str, message: str, details: dict | None = None):
    resp = jsonify({"error": code, "message": message, "details": details or {}})
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="fscti"'
    return resp


def register_error_handlers(app):
    """Map every exception to the JSON error shape; roll back the SQL session first."""
    from app.extensions import db

    @app.errorhandler(AppError)
    def _app_error(exc: AppError):
        db.session.rollback()
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        # Raised from the Content-Length before the body is read, or once a chunked body
        # passes the limit; nothing of it was parsed.
        db.session.rollback()
        limit = request.max_content_length
        return error_response(413, "content_too_large",
                              f"the request body is larger than {limit} bytes "
                              f"(web.max_content_length)", {"max_content_length": limit})

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        db.session.rollback()
        details = {}
        data = getattr(exc, "data", None) or {}
        if exc.code == 422 and "messages" in data:
            # webargs/flask-smorest validation: {"json": {"field": ["msg"]}} → {"field": [...]}
            msgs = data["messages"]
            for loc in ("json", "query", "form", "files", "headers", "path"):
                if loc in msgs:
                    details.update(msgs[loc])
            return error_response(422, "validation_failed", "Invalid input: see details", details)
        name = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, name, exc.description or exc.name, details)

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    @app.errorhandler(redis.ReadOnlyError)
    def _redis_unavailable(exc: Exception):
        # Redis down, or a Sentinel failover under way (the old master gone or read-only, the
        # new one not yet elected): the caller may retry in a few seconds.
        db.session.rollback()
        log.warning("%s %s: Redis unavailable (%s: %s)", request.method, request.path,
                    type(exc).__name__, exc)
        resp = error_response(503, "redis_unavailable",
                              "Redis is unavailable (down, or a failover is under way); "
                              "retry in a few seconds", {"reason": f"{type(exc).__name__}: {exc}"})
        resp.headers["Retry-After"] = "5"
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        db.session.rollback()
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Internal error; see the server log")
