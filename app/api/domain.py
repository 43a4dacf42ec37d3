"""/api/v1/domains: SIP domains (their params and variables reach every user)."""
from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema

from app.api.responses import QUEUED_HELP, check_json_body, page, want_secrets, written
from app.auth import require_role
from app.schemas.domain import DomainCreate, DomainOut, DomainPage, DomainPatch, DomainWrite
from app.schemas.fields import PageQuery, SecretsQuery, StrictBoolean
from app.services import domain as svc

blp = Blueprint("domains", __name__, url_prefix="/api/v1", description=(
    "SIP domains. A domain's params and variables are merged by FreeSWITCH into every user; "
    "a new domain gets the vanilla dial-string, allow-empty-password=false and "
    "user_context=default unless the body says otherwise."))
blp.before_request(check_json_body)


class WriteQuery(Schema):
    confirm_realm_change = StrictBoolean(load_default=False, metadata={
        "description": "accept that stored a1-hashes become invalid when the realm changes"})


class DeleteQuery(Schema):
    cascade = StrictBoolean(load_default=False, metadata={
        "description": "also delete the domain's extensions (409 without it when it has any)"})


REALM_HELP = ("the realm changes while extensions hold a1-hashes computed with the old one "
              "(send ?confirm_realm_change=true)")


def _url(domain) -> str:
    return url_for("domains.Domain", domain=domain.name)


@blp.route("/domains")
class Domains(MethodView):
    @require_role("viewer")
    @blp.arguments(PageQuery, location="query")
    @blp.response(200, DomainPage)
    def get(self, args):
        """List domains (paged; ?q= filters by name)."""
        items, total = svc.list_domains(args["page"], args["per_page"], args.get("q"))
        return page(items, total, args)

    @require_role("admin")
    @blp.arguments(DomainCreate)
    @blp.response(201, DomainOut)
    @blp.alt_response(409, description="the domain exists")
    def post(self, data):
        """Create a domain."""
        domain = svc.create_domain(data)
        return written(domain, location=_url(domain))


@blp.route("/domains/<domain>")
class Domain(MethodView):
    @require_role("viewer")
    @blp.arguments(SecretsQuery, location="query")
    @blp.response(200, DomainOut)
    def get(self, args, domain):
        """One domain."""
        want_secrets(args["include_secrets"])
        return svc.get_domain(domain)

    @require_role("admin")
    @blp.arguments(WriteQuery, location="query")
    @blp.arguments(DomainWrite)
    @blp.response(200, DomainOut)
    @blp.alt_response(201, description="created")
    @blp.alt_response(202, description=QUEUED_HELP)
    @blp.alt_response(409, description=REALM_HELP)
    def put(self, args, data, domain):
        """Create or replace a domain (absent fields take their defaults)."""
        obj, created, queued = svc.replace_domain(domain, data, args["confirm_realm_change"])
        return written(obj, queued, _url(obj) if created else None)

    @require_role("admin")
    @blp.arguments(WriteQuery, location="query")
    @blp.arguments(DomainPatch(partial=True))
    @blp.response(200, DomainOut)
    @blp.alt_response(202, description=QUEUED_HELP)
    @blp.alt_response(409, description=REALM_HELP)
    def patch(self, args, data, domain):
        """Change some fields of a domain (a null in param/variable deletes that name)."""
        return written(*svc.patch_domain(domain, data, args["confirm_realm_change"]))

    @require_role("admin")
    @blp.arguments(DeleteQuery, location="query")
    @blp.response(204)
    @blp.alt_response(409, description="the domain still has extensions")
    def delete(self, args, domain):
        """Delete a domain (and, with ?cascade=true, its extensions)."""
        svc.delete_domain(domain, args["cascade"])
        return Response(status=204)
