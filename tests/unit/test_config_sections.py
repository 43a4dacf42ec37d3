"""Config sections refuse what cannot work, at start, with a ConfigError naming the setting.

Each case is a real cti.json-style file loaded by Settings.load, as a process would at start.
"""
import json
import re

import pytest

from app.config import DEFAULT_CALL_FIELDS, ConfigError, Settings


def load(tmp_path, data, **env):
    cfg = tmp_path / "cti.json"
    cfg.write_text(data if isinstance(data, str) else json.dumps(data))
    return Settings.load(env={"FSCTI_CONFIG": str(cfg), **env})


# --- cli ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cli, needle", [
    ({"keys": "abcdefghijkl"}, "cli.keys: must be a list"),        # was split into characters
    ({"keys": ["short"]}, "cli.keys: each key must be 8-256 characters"),
    ({"keys": [""]}, "cli.keys: each key must be a non-empty string"),
    ({"keys": [12345678]}, "cli.keys: each key must be a non-empty string"),
    ({"keys": ["with space 123"]}, "cli.keys: a key cannot contain spaces"),
    ({"keys": {"a": "abcdefghij"}}, "cli.keys: must be a list"),
    ({"commands": "bgapi"}, "cli.commands: must be a list"),
    ({"commands": ["bgapi", "system"]}, "cli.commands: 'system' is not a gateway command"),
    ({"key": ["abcdefghij"]}, "cli.key: unknown setting"),
    ("keys", "cli: must be an object"),
])
def test_bad_cli_settings(tmp_path, cli, needle):
    with pytest.raises(ConfigError, match=needle):
        load(tmp_path, {"cli": cli})


def test_cli_keys_from_the_environment_are_checked_too(tmp_path):
    with pytest.raises(ConfigError, match="FSCTI_CLI_KEYS: each key must be 8-256"):
        load(tmp_path, {}, FSCTI_CLI_KEYS="long-enough-key,abc")
    s = load(tmp_path, {"cli": {"keys": "ignored because the env wins"}},
             FSCTI_CLI_KEYS=" long-enough-key , another-long-key,")
    assert s.cli_keys == ["long-enough-key", "another-long-key"]


def test_good_cli_settings(tmp_path):
    s = load(tmp_path, {"cli": {"keys": ["0123456789abcdef"], "commands": ["status", "api"]}})
    assert s.cli_keys == ["0123456789abcdef"] and s.cli_commands == ["status", "api"]
    s = load(tmp_path, {"cli": {"keys": []}})
    assert s.cli_keys == [] and "bgapi" in s.cli_commands


# --- gui ---------------------------------------------------------------------------------

@pytest.mark.parametrize("gui, needle", [
    ({"registration": {"list_max": "abc"}}, "gui.registration.list_max: not a number"),
    ({"call": {"list_max": 0}}, r"gui.call.list_max: must be between 1 and 1e\+07"),
    ({"call": {"list_max": -5}}, "gui.call.list_max: must be between"),
    ({"call": {"list_max": 2.5}}, "gui.call.list_max: must be a whole number"),
    ({"call": {"list_max": True}}, "gui.call.list_max: must be a number"),
    ({"call": {"fields": "Answer-State"}}, "gui.call.fields: must be a list of event header"),
    ({"call": {"fields": ["Answer-State", 7]}}, r"gui.call.fields\[1\]: 7 is not an event header"),
    ({"call": {"fields": ["Answer State"]}}, r"gui.call.fields\[0\]: 'Answer State' is not"),
    ({"call": {"fields": [""]}}, r"gui.call.fields\[0\]"),
    ({"registration": "x"}, "gui.registration: must be an object"),
    ({"call": ["hash"]}, "gui.call: must be an object"),
    ({"registration": {"hash": "cti_exten@example.com"}}, "gui.registration.hash: 'cti_exten@"),
    ({"registration": {"hash": "cti_userinfo@example.com"}}, "collides with names fscti"),
    ({"call": {"hash": "fscti:domains"}}, "gui.call.hash: 'fscti:domains' collides"),
    ({"call": {"list": "cti_userinfo@x"}}, "gui.call.list: 'cti_userinfo@x' collides"),
    ({"call": {"channel": "__redis__:invalidate"}}, "gui.call.channel: '__redis__:invalidate'"),
    ({"registration": {"channel": "__keyspace@0__:calls"}}, "gui.registration.channel"),
    ({"call": {"hash": "my calls"}}, "gui.call.hash: must be 1-200 printable ASCII"),
    ({"call": {"hash": 5}}, "gui.call.hash: must be a string"),
    ({"call": {"list": "x" * 201}}, "gui.call.list: must be 1-200"),
    ({"call": {"hash": "registrations"}}, "gui.call.hash: 'registrations' is also "
                                          "gui.registration.hash"),
    ({"registration": {"list": "events"}, "call": {"list": "events"}}, "gui.call.list: 'events'"),
    ({"call": {"remove_hangup": "yes"}}, "gui.call.remove_hangup: must be true or false"),
    ({"call": {"hashh": "calls"}}, "gui.call.hashh: unknown setting"),
    ({"calls": {}}, "gui.calls: unknown setting"),
    ("calls", "gui: must be an object"),
])
def test_bad_gui_settings(tmp_path, gui, needle):
    with pytest.raises(ConfigError, match=needle):
        load(tmp_path, {"gui": gui})


def test_mod_ctis_own_gui_example_loads(tmp_path):
    """The example of mod_cti's document, comments and its repeated field included."""
    s = load(tmp_path, """{
      "gui": {
        /* registrations to redis */
        "registration": {"hash": "registrations", "channel": "", "list": ""},
        "call": {
          "fields": ["Caller-Destination-Number", "Caller-Caller-ID-Number",
                     "Caller-Callee-ID-Number", "Caller-Profile-Created-Time",
                     "Caller-Profile-Created-Time", "Caller-Channel-Answered-Time",
                     "Caller-Channel-Hangup-Time", "Caller-Channel-Progress-Time",
                     "Caller-Channel-Progress-Media-Time", "Answer-State", "variable_signal_bond"],
          "hash": "calls",
          "remove_hangup": false, /* delete the hung-up call's entry? */
          "channel": "",
          "list": ""
        }
      }
    }""")
    assert s.gui["registration"] == {"hash": "registrations", "channel": "", "list": "",
                                     "list_max": 10000}
    assert s.gui["call"]["fields"][4] == "Caller-Profile-Created-Time"
    assert s.gui["call"]["hash"] == "calls" and s.gui["call"]["remove_hangup"] is False


def test_gui_names_may_be_turned_off_and_share_a_channel(tmp_path):
    s = load(tmp_path, {"gui": {"registration": {"hash": "", "channel": "cti-events",
                                                 "list": None, "list_max": "500"},
                                "call": {"hash": "gui:calls", "channel": "cti-events",
                                         "list": "gui:call-log", "fields": []}}})
    assert s.gui["registration"] == {"hash": "", "channel": "cti-events", "list": "",
                                     "list_max": 500}
    assert s.gui["call"]["hash"] == "gui:calls" and s.gui["call"]["fields"] == []
    assert load(tmp_path, {}).gui["call"]["fields"] == DEFAULT_CALL_FIELDS


def test_defaults_are_copies(tmp_path):
    s = load(tmp_path, {})
    s.gui["call"]["fields"].append("x")
    assert "x" not in load(tmp_path, {}).gui["call"]["fields"]
    assert "x" not in DEFAULT_CALL_FIELDS


# --- esl_timeout and the other sections -------------------------------------------------------

@pytest.mark.parametrize("value, needle", [
    (0, "esl_timeout: must be > 0"), (-1, "esl_timeout: must be > 0"),
    ("abc", "esl_timeout: not a number"), (True, "esl_timeout: must be a number"),
    (1e9, "esl_timeout: must be > 0 and <= 600"), ([5], "esl_timeout: not a number"),
])
def test_bad_esl_timeout(tmp_path, value, needle):
    with pytest.raises(ConfigError, match=needle):
        load(tmp_path, {"esl_timeout": value})


@pytest.mark.parametrize("value, needle", [("0", "must be > 0"), ("-3", "must be > 0"),
                                           ("soon", "not a number"), ("nan", "must be > 0"),
                                           ("inf", "must be > 0")])
def test_bad_esl_timeout_from_the_environment(tmp_path, value, needle):
    with pytest.raises(ConfigError, match=f"esl_timeout: {needle}"):
        load(tmp_path, {}, FSCTI_ESL_TIMEOUT=value)


def test_esl_timeout(tmp_path):
    assert load(tmp_path, {}).esl_connect_timeout == 5.0
    assert load(tmp_path, {"esl_timeout": 2}).esl_connect_timeout == 2.0
    assert load(tmp_path, {"esl_timeout": 9}, FSCTI_ESL_TIMEOUT="0.5").esl_connect_timeout == 0.5


@pytest.mark.parametrize("data, needle", [
    ({"state": "x"}, "state: must be an object"),
    ({"listener": [1]}, "listener: must be an object"),
    ({"actions": 3}, "actions: must be an object"),
    ({"directory": "open"}, "directory: must be an object"),
    ({"freeswitch": "10.0.0.1"}, "freeswitch: must be a list"),
    ({"state": {"tombstone_ttl": float("nan")}}, "state.tombstone_ttl: must be a non-negative"),
    ({"actions": {"originate_timeout": float("inf")}}, "actions.originate_timeout: must be a "
                                                       "number"),
    ({"listener": {"buffer_max": float("inf")}}, "listener.buffer_max: not a number"),
])
def test_a_section_of_the_wrong_type_is_named(tmp_path, data, needle):
    with pytest.raises(ConfigError, match=needle):
        load(tmp_path, json.dumps(data))


# --- web -----------------------------------------------------------------------------------

def test_web_defaults_trust_no_proxy_and_take_16_mib(tmp_path):
    s = load(tmp_path, {})
    assert (s.trusted_proxies, s.max_content_length) == (0, 16 * 1024 * 1024)
    assert Settings().trusted_proxies == 0 and Settings().max_content_length == 16 * 1024 * 1024


def test_web_from_the_file_and_the_environment(tmp_path):
    s = load(tmp_path, {"web": {"trusted_proxies": 1, "max_content_length": 65536}})
    assert (s.trusted_proxies, s.max_content_length) == (1, 65536)
    s = load(tmp_path, {"web": {"trusted_proxies": 1}}, FSCTI_TRUSTED_PROXIES="0",
             FSCTI_MAX_CONTENT_LENGTH=" 104857600 ")
    assert (s.trusted_proxies, s.max_content_length) == (0, 100 * 1024 * 1024)
    assert load(tmp_path, {}, FSCTI_TRUSTED_PROXIES="2").trusted_proxies == 2


@pytest.mark.parametrize("web, env, needle", [
    ({"trusted_proxies": -1}, {}, "web.trusted_proxies: must be a whole number of proxies"),
    ({"trusted_proxies": 1.5}, {}, "web.trusted_proxies: must be a whole number"),
    ({"trusted_proxies": True}, {}, "web.trusted_proxies: must be a whole number"),
    ({"trusted_proxies": 9}, {}, "0 (none) to 8"),
    ({}, {"FSCTI_TRUSTED_PROXIES": "one"}, "web.trusted_proxies: must be a whole number"),
    ({"max_content_length": 1000}, {}, "web.max_content_length: must be between 65536 and"),
    ({"max_content_length": "16M"}, {}, "web.max_content_length: not a number"),
    ({}, {"FSCTI_MAX_CONTENT_LENGTH": "2e9"}, "web.max_content_length: must be between"),
    ({"proxies": 1}, {}, "web.proxies: unknown setting (trusted_proxies, max_content_length)"),
])
def test_bad_web_settings(tmp_path, web, env, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load(tmp_path, {"web": web}, **env)


def test_the_app_takes_the_body_limit(settings, app):
    import dataclasses

    from app import create_app

    try:
        built = create_app(dataclasses.replace(settings, max_content_length=65536))
        assert built.config["MAX_CONTENT_LENGTH"] == 65536
    finally:
        app.extensions["celery"].set_current()
        app.extensions["celery"].set_default()
