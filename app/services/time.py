"""FreeSWITCH's clock: `strmicroepoch` of a node, the clock behind every event and call time."""
from __future__ import annotations

from flask import current_app

from app.esl import commands
from app.esl.errors import EslCommandError, EslUnavailable
from app.esl.pool import esl_pool
from app.services.nodes import NodeUnavailable, named


def server_time(node_name: str | None = None) -> tuple[str, str]:
    """(node, `strmicroepoch` text): the named node, else the first configured node that answers."""
    settings = current_app.config["FSCTI"]
    nodes = [named(settings, node_name)] if node_name else list(settings.freeswitch)
    if not nodes:
        raise NodeUnavailable("no FreeSWITCH node is configured")
    errors = []
    for node in nodes:
        try:
            text = esl_pool().api(node, commands.strmicroepoch())
        except (EslUnavailable, EslCommandError) as exc:
            errors.append(f"{node.name}: {exc}")
            continue
        if text.strip().isdigit():
            return node.name, text.strip()
        errors.append(f"{node.name}: unexpected reply {text[:40]!r}")
    raise NodeUnavailable("no FreeSWITCH clock available (" + "; ".join(errors) + ")")
