"""/api/v1/audit: every supervisor action and /cli gateway command (admin)."""
from flask_smorest import Blueprint

from app.api.responses import page
from app.auth import require_role
from app.schemas.audit import AuditPage, AuditQuery
from app.services import audit as svc

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description=(
    "The audit trail: who did what to which call, on which node, and with what result."))


@blp.route("/audit")
@require_role("admin")
@blp.arguments(AuditQuery, location="query")
@blp.response(200, AuditPage)
def audit_list(args):
    """Audit rows, newest first (paged; filter by actor, what, target, node, result, time)."""
    filters = {k: args.get(k) for k in ("actor", "what", "target", "node", "result", "since",
                                        "until")}
    items, total = svc.list_entries(args["page"], args["per_page"], **filters)
    return page(items, total, args)

