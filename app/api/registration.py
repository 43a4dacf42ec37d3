"""/api/v1/domains/<d>/registrations and .../extensions/<ext>/status: live registration state."""
from flask_smorest import Blueprint

from app.auth import require_role
from app.errors import BadRequest
from app.names import is_domain, is_extension
from app.schemas.registration import ExtensionStatusOut, RegistrationList
from app.state.registrations import extension_status, registrations_of

blp = Blueprint("registrations", __name__, url_prefix="/api/v1", description=(
    "Live registration state from FreeSWITCH's events (cti_userinfo@<domain>, kept exact by "
    "the event ingest, the expiry sweep and resyncs)."))


INVALID_PATH = "the domain or extension in the path is not a valid name"


def check_names(domain: str, ext: str | None = None) -> None:
    """400 with a field-level message for a domain/extension that cannot exist."""
    details = {}
    if not is_domain(domain):
        details["domain"] = ["not a valid domain name"]
    if ext is not None and not is_extension(ext):
        details["ext"] = ["not a valid extension name"]
    if details:
        raise BadRequest("invalid path", details)


@blp.route("/domains/<domain>/registrations")
@require_role("viewer")
@blp.response(200, RegistrationList)
@blp.alt_response(400, description=INVALID_PATH)
def list_registrations(domain):
    """Registered extensions of a domain, each with its newest binding and all bindings."""
    check_names(domain)
    items = registrations_of(domain)
    return {"domain": domain, "total": len(items), "items": items}


@blp.route("/domains/<domain>/extensions/<ext>/status")
@require_role("viewer")
@blp.response(200, ExtensionStatusOut)
@blp.alt_response(400, description=INVALID_PATH)
def extension_state(domain, ext):
    """Registered?, bindings, and live calls with durations (FreeSWITCH's clock)."""
    check_names(domain, ext)
    return extension_status(domain, ext)
