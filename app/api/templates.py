"""/api/v1 templates (filled in by the directory work)."""
from flask_smorest import Blueprint

blp = Blueprint("templates", __name__, url_prefix="/api/v1", description="templates")
