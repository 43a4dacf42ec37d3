"""/api/v1 domains (filled in by the directory work)."""
from flask_smorest import Blueprint

blp = Blueprint("domains", __name__, url_prefix="/api/v1", description="domains")
