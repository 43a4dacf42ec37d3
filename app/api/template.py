"""/api/v1/templates: extension templates, shared by all domains."""
from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.responses import QUEUED_HELP, check_json_body, page, want_secrets, written
from app.auth import require_role
from app.schemas.fields import PageQuery, SecretsQuery
from app.schemas.template import (TemplateCreate, TemplateOut, TemplatePage, TemplatePatch,
                                  TemplateWrite)
from app.services import template as svc

blp = Blueprint("templates", __name__, url_prefix="/api/v1", description=(
    "Extension templates (shared by all domains): default params, variables and attributes. "
    "A change re-mirrors every extension using the template and flushes cached ones."))
blp.before_request(check_json_body)


def _url(tpl) -> str:
    return url_for("templates.Template", name=tpl.name)


@blp.route("/templates")
class Templates(MethodView):
    @require_role("viewer")
    @blp.arguments(PageQuery, location="query")
    @blp.response(200, TemplatePage)
    def get(self, args):
        """List templates (paged; ?q= filters by name)."""
        items, total = svc.list_templates(args["page"], args["per_page"], args.get("q"))
        return page(items, total, args)

    @require_role("admin")
    @blp.arguments(TemplateCreate)
    @blp.response(201, TemplateOut)
    @blp.alt_response(409, description="the template exists")
    def post(self, data):
        """Create a template."""
        tpl = svc.create_template(data)
        return written(tpl, location=_url(tpl))


@blp.route("/templates/<name>")
class Template(MethodView):
    @require_role("viewer")
    @blp.arguments(SecretsQuery, location="query")
    @blp.response(200, TemplateOut)
    def get(self, args, name):
        """One template."""
        want_secrets(args["include_secrets"])
        return svc.get_template(name)

    @require_role("admin")
    @blp.arguments(TemplateWrite)
    @blp.response(200, TemplateOut)
    @blp.alt_response(201, description="created")
    @blp.alt_response(202, description=QUEUED_HELP)
    def put(self, data, name):
        """Create or replace a template; dependents are re-mirrored."""
        tpl, created, queued = svc.replace_template(name, data)
        return written(tpl, queued, _url(tpl) if created else None)

    @require_role("admin")
    @blp.arguments(TemplatePatch(partial=True))
    @blp.response(200, TemplateOut)
    @blp.alt_response(202, description=QUEUED_HELP)
    def patch(self, data, name):
        """Change some values of a template (a null deletes that name)."""
        return written(*svc.patch_template(name, data))

    @require_role("admin")
    @blp.response(204)
    @blp.alt_response(409, description="extensions still use the template")
    @blp.alt_response(422, description="the name in the URL is not a template name")
    def delete(self, name):
        """Delete a template that no extension uses."""
        svc.delete_template(name)
        return Response(status=204)
