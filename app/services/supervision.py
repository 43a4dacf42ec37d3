"""The commands each supervision mode (app/supervision.py) sends: the originate, the switch."""
from __future__ import annotations

from app.esl import supervisor_commands
from app.esl.command_types import ApiCommand, SocketCommand
from app.supervision import MODES


def supervise_command(mode: str, supervisor: str, domain: str, target_uuid: str,
                      leg_uuid: str, timeout: int, dtmf: bool = True) -> ApiCommand:
    """The `originate` (send with bgapi) that rings the supervisor into `mode` on the target."""
    m = MODES[mode]
    variables = {"originate_timeout": int(timeout)}
    if m.app == "three_way":
        return supervisor_commands.originate_three_way(supervisor, domain, target_uuid, leg_uuid,
                                                       variables)
    # DTMF switching is FreeSWITCH's default; we say it explicitly either way.
    variables = {"eavesdrop_enable_dtmf": "true" if dtmf else "false", **m.variables, **variables}
    return supervisor_commands.originate_eavesdrop(supervisor, domain, target_uuid, leg_uuid,
                                                   variables)


def mode_command(mode: str, leg_uuid: str) -> SocketCommand:
    """The `sendevent` that switches the running supervision on leg `leg_uuid` to `mode`."""
    return supervisor_commands.eavesdrop_command(leg_uuid, MODES[mode].keys)
