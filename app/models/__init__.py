"""SQL models: the source of truth."""
from app.models.action import Action
from app.models.audit import AuditEntry
from app.models.domain import Domain
from app.models.extension import Extension
from app.models.template import Template
from app.models.token import ApiToken

__all__ = ["Action", "ApiToken", "AuditEntry", "Domain", "Extension", "Template"]
