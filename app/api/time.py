"""/api/v1/time: FreeSWITCH's current microsecond clock (`strmicroepoch`)."""
from flask_smorest import Blueprint

from app.errors import NotFound, Unavailable
from app.auth import require_role
from app.schemas.action import TimeOut, TimeQuery
from app.services.nodes import NodeUnavailable, UnknownNode
from app.services.time import server_time

blp = Blueprint("time", __name__, url_prefix="/api/v1", description=(
    "FreeSWITCH's clock, the one behind Event-Date-Timestamp and the call times: "
    "duration = timestamp - Created-Time."))


@blp.route("/time")
@require_role("viewer")
@blp.arguments(TimeQuery, location="query")
@blp.response(200, TimeOut)
@blp.alt_response(404, description="`node` names no configured node")
@blp.alt_response(503, description="no node is configured, or none answered")
def fs_time(args):
    """`strmicroepoch` of `?node=` (use the call's node), else of the first node that answers."""
    try:
        node, text = server_time(args["node"])
    except UnknownNode as exc:
        raise NotFound(exc.message, {"node": [exc.message]}) from exc
    except NodeUnavailable as exc:
        raise Unavailable(exc.message) from exc
    return {"node": node, "timestamp": text, "microseconds": int(text)}
