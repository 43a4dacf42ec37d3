"""Which configured FreeSWITCH node a request names, and the refusals of a request for one."""
from __future__ import annotations


class Refused(Exception):
    """A request refused; `status` is the HTTP status, the message says why."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnknownNode(Refused):
    """A `node` that names no configured node: like any unknown name, a 404."""

    status = 404


class NodeUnavailable(Refused):
    status = 503


def named(settings, name: str):
    """The configured node called `name`, or UnknownNode."""
    node = settings.node(name)
    if node is None:
        raise UnknownNode(f"unknown node {name[:64]!r}")
    return node
