"""Builders of the call-control commands: supervisor originates (eavesdrop, three_way), the
eavesdrop mode `sendevent`, and `uuid_kill` with its cause table. Whitelists and the command
types: app/esl/command_types.py; every name here is also importable from app.esl.commands.
"""
from __future__ import annotations

from app.esl.command_types import (ApiCommand, InvalidArgument, SocketCommand, bool_arg,
                                   domain_arg, extension_arg, timeout_arg, token_arg, uuid_arg)

# FreeSWITCH's cause table, src/switch_channel.c:57-140 (CAUSE_CHART), in its order.
# uuid_kill silently turns an unknown name into NORMAL_CLEARING, so we refuse unknown names.
HANGUP_CAUSES = (
    "NONE", "UNALLOCATED_NUMBER", "NO_ROUTE_TRANSIT_NET", "NO_ROUTE_DESTINATION",
    "CHANNEL_UNACCEPTABLE", "CALL_AWARDED_DELIVERED", "NORMAL_CLEARING", "USER_BUSY",
    "NO_USER_RESPONSE", "NO_ANSWER", "SUBSCRIBER_ABSENT", "CALL_REJECTED", "NUMBER_CHANGED",
    "REDIRECTION_TO_NEW_DESTINATION", "EXCHANGE_ROUTING_ERROR", "DESTINATION_OUT_OF_ORDER",
    "INVALID_NUMBER_FORMAT", "FACILITY_REJECTED", "RESPONSE_TO_STATUS_ENQUIRY",
    "NORMAL_UNSPECIFIED", "NORMAL_CIRCUIT_CONGESTION", "NETWORK_OUT_OF_ORDER",
    "NORMAL_TEMPORARY_FAILURE", "SWITCH_CONGESTION", "ACCESS_INFO_DISCARDED",
    "REQUESTED_CHAN_UNAVAIL", "PRE_EMPTED", "FACILITY_NOT_SUBSCRIBED", "OUTGOING_CALL_BARRED",
    "INCOMING_CALL_BARRED", "BEARERCAPABILITY_NOTAUTH", "BEARERCAPABILITY_NOTAVAIL",
    "SERVICE_UNAVAILABLE", "CHAN_NOT_IMPLEMENTED", "FACILITY_NOT_IMPLEMENTED",
    "SERVICE_NOT_IMPLEMENTED", "INVALID_CALL_REFERENCE", "INCOMPATIBLE_DESTINATION",
    "INVALID_MSG_UNSPECIFIED", "MANDATORY_IE_MISSING", "MESSAGE_TYPE_NONEXIST", "WRONG_MESSAGE",
    "IE_NONEXIST", "INVALID_IE_CONTENTS", "WRONG_CALL_STATE", "RECOVERY_ON_TIMER_EXPIRE",
    "MANDATORY_IE_LENGTH_ERROR", "PROTOCOL_ERROR", "INTERWORKING", "SUCCESS",
    "ORIGINATOR_CANCEL", "CRASH", "SYSTEM_SHUTDOWN", "LOSE_RACE", "MANAGER_REQUEST",
    "BLIND_TRANSFER", "ATTENDED_TRANSFER", "ALLOTTED_TIMEOUT", "USER_CHALLENGE",
    "MEDIA_TIMEOUT", "PICKED_OFF", "USER_NOT_REGISTERED", "PROGRESS_TIMEOUT",
)
_CAUSES = frozenset(HANGUP_CAUSES)

# eavesdrop mode keys (facts §6.1): 1 peer hears, 2 target hears, 3 both, 0 listen, * leave.
EAVESDROP_COMMANDS = ("0", "1", "2", "3", "*")

# Channel variables an originate may carry, each with the only values it accepts. Values end
# up inside `{...}` of a dial string and are `${}`-expanded later: nothing free-form is allowed.
ORIGINATE_VARIABLES = {
    "eavesdrop_enable_dtmf": bool_arg,
    "eavesdrop_bridge_aleg": bool_arg,
    "eavesdrop_bridge_bleg": bool_arg,
    "eavesdrop_whisper_aleg": bool_arg,
    "eavesdrop_whisper_bleg": bool_arg,
    "originate_timeout": timeout_arg,
    "hangup_after_bridge": bool_arg,
    "origination_caller_id_number": extension_arg,
    "origination_caller_id_name": extension_arg,
    "fscti_action_id": token_arg,
    "fscti_role": token_arg,
    "fscti_target": uuid_arg,
}

# The applications a supervisor leg may run (facts §6.1, §6.2).
SUPERVISOR_APPS = ("eavesdrop", "three_way")

# Channel variables fscti reads with uuid_getvar: `signal_bond`, the other leg of a call
# (facts §4.4), for the double uuid_kill when the live state does not know it.
GETVAR_VARIABLES = ("signal_bond",)
# What uuid_getvar answers for a variable the channel does not have.
UNDEFINED = "_undef_"


def uuid_kill(uuid: str, cause: str | None = None) -> ApiCommand:
    """`uuid_kill <uuid> [<CAUSE>]`; the cause must be a name from FreeSWITCH's cause table."""
    uuid = uuid_arg("uuid", uuid)
    if cause is None:
        return ApiCommand(f"uuid_kill {uuid}")
    # isascii first: str.upper() maps e.g. "ı" to "I", which would smuggle a look-alike in.
    if not isinstance(cause, str) or not cause.isascii() or cause.upper() not in _CAUSES:
        raise InvalidArgument("cause", "must be a FreeSWITCH hangup cause name", cause)
    return ApiCommand(f"uuid_kill {uuid} {cause.upper()}")


def uuid_getvar(uuid: str, name: str) -> ApiCommand:
    """`uuid_getvar <uuid> <name>` (name from GETVAR_VARIABLES): the value, or `_undef_` when
    unset, with no newline; `-ERR No such channel!` for a uuid FreeSWITCH does not have."""
    if name not in GETVAR_VARIABLES:
        raise InvalidArgument("name", f"must be one of {', '.join(GETVAR_VARIABLES)}", name)
    return ApiCommand(f"uuid_getvar {uuid_arg('uuid', uuid)} {name}")


def _originate(app: str, supervisor: str, domain: str, target_uuid: str,
               origination_uuid: str, variables: dict | None) -> ApiCommand:
    parts = [f"origination_uuid={uuid_arg('origination_uuid', origination_uuid)}"]
    for name, value in (variables or {}).items():
        check = ORIGINATE_VARIABLES.get(name)
        if check is None:
            raise InvalidArgument("variables", "variable not allowed", name)
        parts.append(f"{name}={check(name, value)}")
    dial = (f"{{{','.join(parts)}}}user/{extension_arg('supervisor', supervisor)}"
            f"@{domain_arg('domain', domain)}")
    return ApiCommand(f"originate {dial} &{app}({uuid_arg('target_uuid', target_uuid)})")


def originate_eavesdrop(supervisor: str, domain: str, target_uuid: str, origination_uuid: str,
                        variables: dict | None = None) -> ApiCommand:
    """`originate {origination_uuid=..,vars}user/<sup>@<domain> &eavesdrop(<target>)` (send with bgapi)."""
    return _originate("eavesdrop", supervisor, domain, target_uuid, origination_uuid, variables)


def originate_three_way(supervisor: str, domain: str, target_uuid: str, origination_uuid: str,
                        variables: dict | None = None) -> ApiCommand:
    """`originate {origination_uuid=..,vars}user/<sup>@<domain> &three_way(<target>)` (send with bgapi)."""
    return _originate("three_way", supervisor, domain, target_uuid, origination_uuid, variables)


def originate_supervisor(supervisor: str, target_uuid: str, app: str = "eavesdrop",
                         domain: str | None = None, variables: dict | None = None,
                         inline_set: dict | None = None, inline: bool = False,
                         origination_uuid: str | None = None) -> ApiCommand:
    """mod_cti's originate forms (SPEC §5), rebuilt from validated parts (send with bgapi).

    `originate [{vars}]user/<sup>[@<domain>] &<app>(<target>)`, or with `inline=True`
    `originate [{vars}]user/<sup>[@<domain>] [set:<var>=<v>,...]<app>:<target> inline`.
    Without a domain FreeSWITCH uses its global `domain` variable, as mod_cti did.
    """
    if app not in SUPERVISOR_APPS:
        raise InvalidArgument("app", "must be eavesdrop or three_way", app)
    if inline_set and not inline:
        raise InvalidArgument("inline_set", "set: items need the inline form")
    parts = []
    if origination_uuid is not None:
        parts.append(f"origination_uuid={uuid_arg('origination_uuid', origination_uuid)}")
    parts += _variable_items("variables", variables)
    dial = f"user/{extension_arg('supervisor', supervisor)}"
    if domain is not None:
        dial += f"@{domain_arg('domain', domain)}"
    if parts:
        dial = f"{{{','.join(parts)}}}{dial}"
    target = uuid_arg("target_uuid", target_uuid)
    if not inline:
        return ApiCommand(f"originate {dial} &{app}({target})")
    items = [f"set:{item}" for item in _variable_items("inline_set", inline_set)]
    items.append(f"{app}:{target}")
    return ApiCommand(f"originate {dial} {','.join(items)} inline")


def _variable_items(argument: str, variables: dict | None) -> list[str]:
    out = []
    for name, value in (variables or {}).items():
        check = ORIGINATE_VARIABLES.get(name)
        if check is None:
            raise InvalidArgument(argument, "variable not allowed", name)
        out.append(f"{name}={check(name, value)}")
    return out


# --- whole event-socket packets ---------------------------------------------------------

def eavesdrop_command(supervisor_uuid: str, keys: str) -> SocketCommand:
    """`sendevent CUSTOM` queued to the supervisor leg, switching eavesdrop mode (facts §6.1)."""
    if keys not in EAVESDROP_COMMANDS:
        raise InvalidArgument("keys", "must be one of 0 1 2 3 *", keys)
    return SocketCommand(
        "sendevent CUSTOM\n"
        "Event-Subclass: supervisor::cmd\n"
        f"Unique-ID: {uuid_arg('supervisor_uuid', supervisor_uuid)}\n"
        f"eavesdrop-command: {keys}"
    )
