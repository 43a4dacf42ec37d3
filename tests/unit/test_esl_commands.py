"""Every ESL command builder: the exact string for good input, InvalidArgument for hostile input."""
import pytest

from app.esl import commands as c
from app.esl import supervisor_commands as sc
from app.esl.command_types import ApiCommand, InvalidArgument, SocketCommand
from tests.support.hostile import HOSTILE, UUID, UUID2


def _assert_never_reaches_socket(bad, build):
    with pytest.raises(InvalidArgument):
        build(bad)


# --- exact strings ------------------------------------------------------------------------

def test_simple_api_commands():
    assert c.show_channels() == "show channels as json"
    assert c.show_calls() == "show calls as json"
    assert c.show_registrations() == "show registrations as json"
    assert c.strmicroepoch() == "strmicroepoch"
    assert c.global_getvar_core_uuid() == "global_getvar core_uuid"
    assert c.sofia_reg_xmlstatus("internal") == "sofia xmlstatus profile internal reg"
    assert c.uuid_exists(UUID) == f"uuid_exists {UUID}"
    assert isinstance(c.show_calls(), ApiCommand)


def test_xml_flush_cache():
    assert c.xml_flush_cache("id", "1001", "127.0.0.1") == "xml_flush_cache id 1001 127.0.0.1"
    assert (c.xml_flush_cache("number-alias", "5001", "pbx.example.com")
            == "xml_flush_cache number-alias 5001 pbx.example.com")


def test_uuid_kill():
    assert sc.uuid_kill(UUID) == f"uuid_kill {UUID}"
    assert sc.uuid_kill(UUID, "MANAGER_REQUEST") == f"uuid_kill {UUID} MANAGER_REQUEST"
    assert sc.uuid_kill(UUID, "normal_clearing") == f"uuid_kill {UUID} NORMAL_CLEARING"


def test_cause_table_is_freeswitchs():
    assert len(sc.HANGUP_CAUSES) == len(set(sc.HANGUP_CAUSES)) == 63
    assert sc.HANGUP_CAUSES[0] == "NONE" and sc.HANGUP_CAUSES[-1] == "PROGRESS_TIMEOUT"
    for name in ("USER_BUSY", "NO_ANSWER", "ORIGINATOR_CANCEL", "USER_NOT_REGISTERED", "LOSE_RACE"):
        assert name in sc.HANGUP_CAUSES


def test_originate_forms():
    assert (sc.originate_eavesdrop("1003", "127.0.0.1", UUID, UUID2)
            == f"originate {{origination_uuid={UUID2}}}user/1003@127.0.0.1 &eavesdrop({UUID})")
    assert (sc.originate_three_way("1003", "127.0.0.1", UUID, UUID2)
            == f"originate {{origination_uuid={UUID2}}}user/1003@127.0.0.1 &three_way({UUID})")
    cmd = sc.originate_eavesdrop("121", "pbx.example.com", UUID, UUID2, {
        "eavesdrop_enable_dtmf": True, "eavesdrop_whisper_bleg": "true", "originate_timeout": 30,
        "fscti_action_id": "42", "fscti_target": UUID,
    })
    assert cmd == (f"originate {{origination_uuid={UUID2},eavesdrop_enable_dtmf=true,"
                   f"eavesdrop_whisper_bleg=true,originate_timeout=30,fscti_action_id=42,"
                   f"fscti_target={UUID}}}user/121@pbx.example.com &eavesdrop({UUID})")


def test_eavesdrop_command_packet_matches_facts_wire_example():
    pkt = sc.eavesdrop_command(UUID, "2")
    assert pkt == ("sendevent CUSTOM\nEvent-Subclass: supervisor::cmd\n"
                   f"Unique-ID: {UUID}\neavesdrop-command: 2")
    assert isinstance(pkt, SocketCommand)


def test_event_subscriptions_default_listener_set():
    packets = c.event_subscriptions()
    assert packets == [
        "event json CHANNEL_CREATE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER "
        "CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_DESTROY "
        "BACKGROUND_JOB HEARTBEAT",
        "event json CUSTOM sofia::register sofia::unregister sofia::expire",
    ]


def test_event_subscriptions_split_under_the_1024_byte_buffer():
    names = [f"EVENT_{i:03d}_" + "X" * 40 for i in range(60)]
    subs = [f"mod_{i:02d}::thing_{i:02d}" for i in range(80)]
    packets = c.event_subscriptions("plain", names, subs)
    assert len(packets) > 2
    for p in packets:
        assert len(p) + 2 <= 1024 and p.startswith("event plain ")
    words = " ".join(packets).split()
    assert [w for w in words if w.startswith("EVENT_")] == names
    assert [w for w in words if "::" in w] == subs
    assert all(p.startswith("event plain CUSTOM ") for p in packets if "::" in p)


# --- hostile input --------------------------------------------------------------------------

@pytest.mark.parametrize("bad", HOSTILE + [None, 1001, "-1001", ".x"])
def test_extension_arguments_reject(bad):
    _assert_never_reaches_socket(bad, lambda v: c.xml_flush_cache("id", v, "example.com"))
    _assert_never_reaches_socket(bad, lambda v: sc.originate_eavesdrop(v, "example.com", UUID, UUID2))


@pytest.mark.parametrize("bad", HOSTILE + [None, "a..b", "-a.com", "a.com."])
def test_domain_arguments_reject(bad):
    _assert_never_reaches_socket(bad, lambda v: c.xml_flush_cache("id", "1001", v))
    _assert_never_reaches_socket(bad, lambda v: sc.originate_three_way("1001", v, UUID, UUID2))


@pytest.mark.parametrize("bad", HOSTILE + [None, UUID.upper(), UUID + "0", UUID[:-1], " " + UUID,
                                           UUID + "\n", f"{UUID} {UUID}", UUID.replace("-", "")])
def test_uuid_arguments_reject(bad):
    for build in (sc.uuid_kill, c.uuid_exists,
                  lambda v: sc.originate_eavesdrop("1003", "example.com", v, UUID2),
                  lambda v: sc.originate_eavesdrop("1003", "example.com", UUID, v),
                  lambda v: sc.eavesdrop_command(v, "1")):
        _assert_never_reaches_socket(bad, build)


@pytest.mark.parametrize("bad", HOSTILE + ["NORMAL_CLEARING ", "NORMAL CLEARING", "16", "BOGUS",
                                           "NORMAL_CLEAR\u0131NG", "normal_clearing\n", 16])
def test_hangup_cause_rejects(bad):
    _assert_never_reaches_socket(bad, lambda v: sc.uuid_kill(UUID, v))


@pytest.mark.parametrize("bad", ["ID", "alias", "", "id ", "mailbox", None])
def test_flush_key_rejects(bad):
    _assert_never_reaches_socket(bad, lambda v: c.xml_flush_cache(v, "1001", "example.com"))


@pytest.mark.parametrize("bad", HOSTILE + ["1x", "internal reg", None])
def test_profile_rejects(bad):
    _assert_never_reaches_socket(bad, c.sofia_reg_xmlstatus)


@pytest.mark.parametrize("variables", [
    {"absolute_codec_string": "PCMU"},          # not in the whitelist
    {"api_on_answer": "system id"},
    {"eavesdrop_enable_dtmf": "yes"},
    {"eavesdrop_whisper_aleg": "true,x=y"},
    {"originate_timeout": "30"},
    {"originate_timeout": 0},
    {"originate_timeout": True},
    {"fscti_role": "a b"},
    {"fscti_role": "${system(id)}"},
    {"fscti_target": "not-a-uuid"},
    {"origination_caller_id_name": "Ext 1001"},
    {"Eavesdrop_enable_dtmf": True},
    {"eavesdrop_enable_dtmf\n": True},
])
def test_originate_variables_reject(variables):
    with pytest.raises(InvalidArgument) as err:
        sc.originate_eavesdrop("1003", "example.com", UUID, UUID2, variables)
    assert err.value.argument in set(sc.ORIGINATE_VARIABLES) | {"variables"}


@pytest.mark.parametrize("bad", HOSTILE + ["4", "12", "#", None, 2])
def test_eavesdrop_keys_reject(bad):
    _assert_never_reaches_socket(bad, lambda v: sc.eavesdrop_command(UUID, v))


@pytest.mark.parametrize("events,custom", [
    (["CHANNEL_CREATE\n\napi system id"], []), (["channel_create"], []), (["ALL CUSTOM"], []),
    (["CUSTOM"], []), ([], ["sofia::register x"]), ([], ["sofia:register"]), ([], []),
])
def test_event_subscription_rejects(events, custom):
    with pytest.raises(InvalidArgument):
        c.event_subscriptions("json", events, custom)
    with pytest.raises(InvalidArgument):
        c.event_subscriptions("xml")


def test_error_names_the_argument_and_truncates_the_value():
    with pytest.raises(InvalidArgument) as err:
        c.xml_flush_cache("id", "1001", "x\n" * 100)
    assert err.value.argument == "domain"
    assert str(err.value).startswith("domain: ") and len(str(err.value)) < 160


def test_command_types_refuse_line_breaks_as_a_last_line_of_defence():
    for bad in ("show calls\n", "a\rb", "a\x00", ""):
        with pytest.raises(InvalidArgument):
            ApiCommand(bad)
    for bad in ("sendevent X\n\napi x", "event json X\n", "a\r\nb", ""):
        with pytest.raises(InvalidArgument):
            SocketCommand(bad)


def test_every_valid_command_is_one_line_without_forbidden_characters():
    cmds = [c.show_channels(), sc.uuid_kill(UUID, "USER_BUSY"), c.xml_flush_cache("id", "a.b+c", "x.y"),
            sc.originate_three_way("1003", "127.0.0.1", UUID, UUID2, {"eavesdrop_enable_dtmf": False})]
    for cmd in cmds:
        assert not set(cmd) & set("\r\n\x00'\"\\|;$[]^%")


def test_uuid_getvar_reads_only_whitelisted_variables():
    """uuid_getvar (call control: the bond of a leg the live state does not know)."""
    getvar = sc.uuid_getvar
    assert getvar(UUID, "signal_bond") == f"uuid_getvar {UUID} signal_bond"
    assert isinstance(getvar(UUID, "signal_bond"), ApiCommand)
    for name in ["", "SIGNAL_BOND", "signal_bond ", "signal_bond\n\napi system id",
                 "${system(id)}", "sip_auth_password", "originate_signal_bond x"]:
        with pytest.raises(InvalidArgument) as err:
            getvar(UUID, name)
        assert err.value.argument == "name"
    for bad in HOSTILE + [UUID.upper(), UUID + " signal_bond"]:
        with pytest.raises(InvalidArgument) as err:
            getvar(bad, "signal_bond")
        assert err.value.argument == "uuid"
