"""/api/v1/domains/<domain>/extensions: SIP extensions, their effective config, bulk I/O."""
from flask import Response, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.responses import check_json_body, page, want_secrets, written
from app.auth import require_role
from app.errors import BadRequest
from app.schemas.fields import SecretsQuery
from app.schemas.extension import (CSV_DISPOSITION, CSV_TEXT, EXPORT_ROWS, IMPORT_BODY,
                                   EffectiveOut, ExportQuery, ExtensionCreate, ExtensionOut,
                                   ExtensionPage, ExtensionPatch, ExtensionQuery, ExtensionWrite,
                                   ImportQuery, ImportResult)
from app.services import extension as svc
from app.services import extension_io

blp = Blueprint("extensions", __name__, url_prefix="/api/v1", description=(
    "SIP extensions of a domain. The effective config (template merged with the extension's "
    "own values) is mirrored into Redis `cti_exten@<domain>` before each write returns. "
    "Passwords and a1-hashes read back as '********' unless an admin asks for "
    "?include_secrets=true; sending '********' back keeps the stored value."))

CSV_TYPES = ("text/csv", "application/csv")
TAKEN = "the name or number-alias is taken (compared case-insensitively)"


@blp.before_request
def _body_guard():
    bulk = request.endpoint == "extensions.import_extensions"
    return check_json_body(allow_csv=bulk, allow_list=bulk)


def _url(domain, ext) -> str:
    return url_for("extensions.Extension", domain=domain.name, ext=ext.name)


@blp.route("/domains/<domain>/extensions")
class Extensions(MethodView):
    @require_role("viewer")
    @blp.arguments(ExtensionQuery, location="query")
    @blp.response(200, ExtensionPage)
    def get(self, args, domain):
        """List a domain's extensions (paged; ?q= matches name or number-alias)."""
        _dom, items, total = svc.list_extensions(domain, args["page"], args["per_page"],
                                               args.get("q"), args.get("template"),
                                               args.get("enabled"))
        return page(items, total, args)

    @require_role("admin")
    @blp.arguments(ExtensionCreate)
    @blp.response(201, ExtensionOut)
    @blp.alt_response(409, description=TAKEN)
    def post(self, data, domain):
        """Create an extension."""
        dom, ext = svc.create_extension(domain, data)
        return written(ext, location=_url(dom, ext))


@blp.route("/domains/<domain>/extensions/<ext>")
class Extension(MethodView):
    @require_role("viewer")
    @blp.arguments(SecretsQuery, location="query")
    @blp.response(200, ExtensionOut)
    def get(self, args, domain, ext):
        """One extension (its own values; see /effective for the merged config)."""
        want_secrets(args["include_secrets"])
        return svc.get_extension(domain, ext)[1]

    @require_role("admin")
    @blp.arguments(ExtensionWrite)
    @blp.response(200, ExtensionOut)
    @blp.alt_response(201, description="created")
    @blp.alt_response(409, description=TAKEN)
    def put(self, data, domain, ext):
        """Create or replace an extension (absent fields take their defaults)."""
        dom, obj, created = svc.replace_extension(domain, ext, data)
        return written(obj, location=_url(dom, obj) if created else None)

    @require_role("admin")
    @blp.arguments(ExtensionPatch(partial=True))
    @blp.response(200, ExtensionOut)
    @blp.alt_response(409, description=TAKEN)
    def patch(self, data, domain, ext):
        """Change some values (merged name by name; a null hides the template's value)."""
        return svc.patch_extension(domain, ext, data)[1]

    @require_role("admin")
    @blp.response(204)
    @blp.alt_response(422, description="the name in the URL is not an extension name")
    def delete(self, domain, ext):
        """Delete an extension (removed from Redis; FreeSWITCH's cache flushed if cached)."""
        svc.delete_extension(domain, ext)
        return Response(status=204)


@blp.route("/domains/<domain>/extensions/<ext>/effective", methods=["GET"])
@require_role("viewer")
@blp.arguments(SecretsQuery, location="query")
@blp.response(200, EffectiveOut)
def effective_extension(args, domain, ext):
    """The effective config: exactly the JSON mirrored into Redis `cti_exten@<domain>`."""
    want_secrets(args["include_secrets"])
    return svc.effective_config(domain, ext)


@blp.route("/domains/<domain>/extensions/export", methods=["GET"])
@require_role("viewer")
@blp.arguments(ExportQuery, location="query")
@blp.response(200, EXPORT_ROWS, content_type="application/json")
@blp.alt_response(200, description="?format=csv", content_type="text/csv", success=True,
                  schema=CSV_TEXT, headers=CSV_DISPOSITION)
def export_extensions(args, domain):
    """Export every extension of a domain as import rows (JSON list, or CSV with ?format=csv)."""
    want_secrets(args["include_secrets"])
    rows = extension_io.export_extensions(domain)
    if args["format"] == "csv":
        name = f"{domain.lower()}-extensions.csv"
        return Response(extension_io.to_csv(EXPORT_ROWS.dump(rows)), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return rows


@blp.route("/domains/<domain>/extensions/import", methods=["POST"])
@require_role("admin")
@blp.arguments(ImportQuery, location="query")
@blp.doc(requestBody=IMPORT_BODY)
@blp.response(200, ImportResult)
@blp.alt_response(400, description="the body is not a JSON list, or the CSV is not UTF-8")
@blp.alt_response(409, description="another write took a name meanwhile; nothing was imported")
@blp.alt_response(422, description="row-indexed errors (`details.rows`); nothing was imported")
def import_extensions(args, domain):
    """Import extensions (JSON list or CSV): every row is valid and written, or none is."""
    if request.mimetype in CSV_TYPES:
        try:
            text = request.get_data().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the CSV is not UTF-8: {exc}") from exc
        rows, lines, errors = extension_io.from_csv(text)
        result = extension_io.import_extensions(domain, rows, args["mode"], lines, errors)
    else:
        result = extension_io.import_extensions(domain, request.get_json(), args["mode"])
    return result
