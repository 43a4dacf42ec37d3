"""The builders, split by job (app/esl/commands.py: directory, state, listener and gateway reads;
app/esl/supervisor_commands.py: call control; app/esl/command_types.py: types and whitelists),
are still all importable from app.esl.commands, as one object each."""
from pathlib import Path

from app.esl import command_types, commands, supervisor_commands

# app.esl.commands' names before the split: every importer keeps working.
SURFACE = [
    "ApiCommand", "SocketCommand", "InvalidArgument", "HANGUP_CAUSES", "ORIGINATE_VARIABLES",
    "LISTENER_EVENTS", "LISTENER_CUSTOM_EVENTS", "EAVESDROP_COMMANDS",
    "xml_flush_cache", "uuid_kill", "uuid_exists", "show_channels", "show_calls",
    "show_registrations", "sofia_reg_xmlstatus", "strmicroepoch", "global_getvar_core_uuid",
    "originate_eavesdrop", "originate_three_way", "eavesdrop_command", "event_subscriptions",
    "SUPERVISOR_APPS", "SHOW_WHAT", "originate_supervisor", "show", "status",
    "API_COMMAND_MAX", "EVENT_PACKET_MAX",
]
CALL_CONTROL = ["HANGUP_CAUSES", "ORIGINATE_VARIABLES", "EAVESDROP_COMMANDS", "SUPERVISOR_APPS",
                "uuid_kill", "originate_eavesdrop", "originate_three_way", "originate_supervisor",
                "eavesdrop_command"]


def test_every_name_is_importable_from_app_esl_commands():
    missing = [name for name in SURFACE if not hasattr(commands, name)]
    assert missing == []
    assert set(SURFACE) - {"API_COMMAND_MAX", "EVENT_PACKET_MAX"} <= set(commands.__all__)
    namespace: dict = {}
    exec("from app.esl.commands import *", namespace)  # noqa: S102 - the star-import surface
    assert set(commands.__all__) <= set(namespace)


def test_one_object_per_builder_whichever_module_it_is_imported_from():
    for name in CALL_CONTROL:
        assert getattr(commands, name) is getattr(supervisor_commands, name), name
    for name in ("ApiCommand", "SocketCommand", "InvalidArgument"):
        assert getattr(commands, name) is getattr(command_types, name)
        assert getattr(supervisor_commands, name) is getattr(command_types, name)


def test_each_command_module_reads_in_one_sitting():
    for module in (commands, supervisor_commands, command_types):
        lines = Path(module.__file__).read_text().count("\n")
        assert lines <= 300, (module.__name__, lines)


# --- uuid_getvar (call control: the bond of a leg the live state does not know) --------------

def test_uuid_getvar_reads_only_whitelisted_variables():
    import pytest

    from tests.unit.test_esl_commands import HOSTILE, UUID

    assert commands.uuid_getvar(UUID, "signal_bond") == f"uuid_getvar {UUID} signal_bond"
    assert commands.uuid_getvar is supervisor_commands.uuid_getvar
    assert isinstance(commands.uuid_getvar(UUID, "signal_bond"), commands.ApiCommand)
    for name in ["", "SIGNAL_BOND", "signal_bond ", "signal_bond\n\napi system id",
                 "${system(id)}", "sip_auth_password", "originate_signal_bond x"]:
        with pytest.raises(commands.InvalidArgument) as err:
            commands.uuid_getvar(UUID, name)
        assert err.value.argument == "name"
    for bad in HOSTILE + [UUID.upper(), UUID + " signal_bond"]:
        with pytest.raises(commands.InvalidArgument) as err:
            commands.uuid_getvar(bad, "signal_bond")
        assert err.value.argument == "uuid"
