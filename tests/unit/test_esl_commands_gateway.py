"""The builders added for the /cli gateway and supervisor actions: exact strings, hostile input."""
import pytest

from app.config import ConfigError, Settings, actions_section
from app.esl import commands as c
from app.esl import supervisor_commands as sc
from app.esl.command_types import ApiCommand, InvalidArgument
from app.services.supervision import mode_command, supervise_command
from app.supervision import MODES
from tests.support.hostile import HOSTILE

T = "17583c94-c7fd-4ccc-9410-abfaf69e2e88"
LEG = "61bcd62c-707b-4b99-9e4b-d63c916b317a"


def test_mod_cti_originate_forms():
    assert sc.originate_supervisor("121", T) == f"originate user/121 &eavesdrop({T})"
    assert sc.originate_supervisor("121", T, "three_way") == f"originate user/121 &three_way({T})"
    assert (sc.originate_supervisor("121", T, inline=True, inline_set={"eavesdrop_enable_dtmf": "true"})
            == f"originate user/121 set:eavesdrop_enable_dtmf=true,eavesdrop:{T} inline")
    assert (sc.originate_supervisor("121", T, inline=True,
                                   inline_set={"eavesdrop_whisper_aleg": "true"})
            == f"originate user/121 set:eavesdrop_whisper_aleg=true,eavesdrop:{T} inline")
    assert (sc.originate_supervisor("121", T, "three_way", inline=True)
            == f"originate user/121 three_way:{T} inline")
    assert (sc.originate_supervisor("1003", T, domain="127.0.0.1", origination_uuid=LEG,
                                   variables={"eavesdrop_whisper_aleg": True})
            == f"originate {{origination_uuid={LEG},eavesdrop_whisper_aleg=true}}"
               f"user/1003@127.0.0.1 &eavesdrop({T})")
    assert isinstance(sc.originate_supervisor("121", T), ApiCommand)


def test_show_and_status():
    assert c.show("calls") == "show calls"
    assert c.show("channels", True, "json") == "show channels count as json"
    assert c.show("registrations", fmt="xml") == "show registrations as xml"
    assert c.status() == "status"
    for bad in ("system", "calls;", "calls as", "", None):
        with pytest.raises(InvalidArgument):
            c.show(bad)
    with pytest.raises(InvalidArgument):
        c.show("calls", fmt="delim ,")


@pytest.mark.parametrize("bad", HOSTILE)
def test_originate_supervisor_refuses_hostile_parts(bad):
    for build in (lambda v: sc.originate_supervisor(v, T),
                  lambda v: sc.originate_supervisor("121", v),
                  lambda v: sc.originate_supervisor("121", T, v),
                  lambda v: sc.originate_supervisor("121", T, domain=v),
                  lambda v: sc.originate_supervisor("121", T, origination_uuid=v),
                  lambda v: sc.originate_supervisor("121", T, variables={"eavesdrop_whisper_aleg": v}),
                  lambda v: sc.originate_supervisor("121", T, variables={v: "true"}),
                  lambda v: sc.originate_supervisor("121", T, inline=True, inline_set={v: "true"}),
                  lambda v: sc.originate_supervisor("121", T, inline=True,
                                                   inline_set={"eavesdrop_enable_dtmf": v})):
        with pytest.raises(InvalidArgument):
            build(bad)


def test_set_items_need_the_inline_form():
    with pytest.raises(InvalidArgument):
        sc.originate_supervisor("121", T, inline_set={"eavesdrop_enable_dtmf": "true"})


# --- the modes, by who hears the supervisor (facts §6.1) --------------------------------------

def test_modes_are_named_by_who_hears_the_supervisor():
    assert {m.name: m.hears for m in MODES.values()} == {
        "listen": "nobody", "whisper_extension": "extension", "whisper_far_end": "far_end",
        "barge": "both"}
    # bleg → the target itself hears (MUX_WRITE, key 2); aleg → its peer hears (MUX_READ, key 1).
    assert MODES["whisper_extension"].variables == {"eavesdrop_whisper_bleg": "true"}
    assert MODES["whisper_far_end"].variables == {"eavesdrop_whisper_aleg": "true"}
    assert {m.name: m.keys for m in MODES.values()} == {
        "listen": "0", "whisper_extension": "2", "whisper_far_end": "1", "barge": "3"}


def test_supervise_and_mode_commands():
    assert (supervise_command("whisper_far_end", "1003", "127.0.0.1", T, LEG, 30)
            == f"originate {{origination_uuid={LEG},eavesdrop_enable_dtmf=true,"
               f"eavesdrop_whisper_aleg=true,originate_timeout=30}}user/1003@127.0.0.1 "
               f"&eavesdrop({T})")
    assert (supervise_command("barge", "1003", "127.0.0.1", T, LEG, 45, dtmf=False)
            == f"originate {{origination_uuid={LEG},originate_timeout=45}}user/1003@127.0.0.1 "
               f"&three_way({T})")
    assert mode_command("whisper_extension", LEG) == (
        f"sendevent CUSTOM\nEvent-Subclass: supervisor::cmd\nUnique-ID: {LEG}\n"
        f"eavesdrop-command: 2")


# --- the `actions` config section -------------------------------------------------------------

def test_actions_settings(tmp_path):
    assert Settings.load(env={}).actions == {"originate_timeout": 30, "result_grace": 30,
                                             "max_retries": 5, "retry_backoff": 1.0,
                                             "retry_backoff_max": 8.0, "queue_timeout": 60}
    cfg = tmp_path / "cti.json"
    cfg.write_text('{"actions": {"originate_timeout": 20, /* short */ "max_retries": 0}}')
    loaded = Settings.load(env={"FSCTI_CONFIG": str(cfg)}).actions
    assert loaded["originate_timeout"] == 20 and loaded["max_retries"] == 0


@pytest.mark.parametrize("section", [
    {"nope": 1}, {"originate_timeout": 0}, {"originate_timeout": 601}, {"originate_timeout": 2.5},
    {"max_retries": -1}, {"max_retries": True}, {"retry_backoff": 0}, {"retry_backoff_max": "8"},
])
def test_bad_actions_settings_are_refused(section):
    with pytest.raises(ConfigError, match="actions."):
        actions_section(section)
