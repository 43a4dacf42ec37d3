"""/api/v1 extensions (filled in by the directory work)."""
from flask_smorest import Blueprint

blp = Blueprint("extensions", __name__, url_prefix="/api/v1", description="extensions")
