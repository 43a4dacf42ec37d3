"""Registration state as the API shows it (app/state/registrations.py)."""
from marshmallow import Schema, fields

from app.schemas.call import CallOut

BINDING = ("one binding (phone registration): the `register` object of cti_userinfo "
           "(Hostname, IPv4, IPv6, cluster_ip, cluster_port, network-ip, user-agent, status, "
           "Timestamp) plus call-id, contact, expires, network-port, node, profile-name, "
           "expires-at (stored expiry, µs)")


class RegistrationOut(Schema):
    """An extension's registration: the newest binding and all of them."""

    extension = fields.String()
    registered = fields.Boolean()
    switchname = fields.String(metadata={"description": "FreeSWITCH-Switchname"})
    register = fields.Dict(allow_none=True, metadata={"description": "the newest " + BINDING})
    bindings = fields.List(fields.Dict(), metadata={"description": "every live " + BINDING})


class RegistrationList(Schema):
    """Registered extensions of a domain."""

    domain = fields.String()
    total = fields.Integer()
    items = fields.List(fields.Nested(RegistrationOut))


class ExtensionStatusOut(RegistrationOut):
    """Registered?, bindings and live calls of one extension."""

    domain = fields.String()
    calls = fields.List(fields.Nested(CallOut))
