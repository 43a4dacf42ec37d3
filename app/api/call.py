"""/api/v1/calls: live calls from the state, filtered by domain / extension / node."""
from flask_smorest import Blueprint

from app.auth import require_role
from app.errors import BadRequest, NotFound
from app.extensions import redis_ext
from app.names import is_uuid
from app.schemas.call import CallList, CallOut, CallQuery
from app.state.calls import find_call, list_calls
from app.state.registrations import with_durations

blp = Blueprint("calls", __name__, url_prefix="/api/v1", description=(
    "Live calls (one entry per extension leg) from FreeSWITCH's events; durations on the "
    "node's clock."))


@blp.route("/calls")
@require_role("viewer")
@blp.arguments(CallQuery, location="query")
@blp.response(200, CallList)
def calls(args):
    """Live calls, oldest first; ?domain=, ?extension=, ?node= filter, ?limit= caps."""
    from flask import current_app

    client = redis_ext.client
    items = list_calls(domain=args["domain"], extension=args["extension"], node=args["node"],
                       client=client, settings=current_app.config["FSCTI"], limit=args["limit"])
    return {"total": len(items), "items": with_durations(items, client)}


@blp.route("/calls/<uuid>")
@require_role("viewer")
@blp.response(200, CallOut)
@blp.alt_response(400, description="not a FreeSWITCH uuid (lowercase 8-4-4-4-12 hex)")
def call(uuid):
    """One leg by uuid: live, or hung up recently (`hungup`)."""
    if not is_uuid(uuid):
        raise BadRequest("invalid path", {"uuid": ["not a FreeSWITCH uuid (lowercase 8-4-4-4-12 hex)"]})
    found = find_call(uuid)
    if found is None:
        raise NotFound(f"no call {uuid}")
    return with_durations([found], redis_ext.client)[0]
