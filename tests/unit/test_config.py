import json

import pytest

from app.config import ConfigError, FreeSwitchNode, Settings, strip_json_comments


def test_comments_are_stripped_outside_strings():
    text = '{"a": "http://x//y", /* block\n comment */ "b": 1 // line\n, "c": "/* kept */"}'
    assert json.loads(strip_json_comments(text)) == {"a": "http://x//y", "b": 1, "c": "/* kept */"}


def test_file_then_env(tmp_path):
    cfg = tmp_path / "cti.json"
    cfg.write_text("""{
      // FreeSWITCH nodes
      "freeswitch": [{"name": "fs1", "host": "10.0.0.1", "port": 8021, "password": "pw"},
                     {"name": "fs2", "host": "10.0.0.2"}],
      "gui": {"call": {"hash": "mycalls", "remove_hangup": true}},
      "cli": {"keys": ["abcdefgh"]}
    }""")
    s = Settings.load(env={"FSCTI_CONFIG": str(cfg), "REDIS_URL": "redis://r:1/2"})
    assert [n.name for n in s.freeswitch] == ["fs1", "fs2"]
    assert s.freeswitch[1].port == 8021 and s.freeswitch[1].password == "ClueCon"
    assert s.redis_url == "redis://r:1/2"
    assert s.celery_broker_url == "redis://r:1/2"
    assert s.gui["call"]["hash"] == "mycalls" and s.gui["call"]["remove_hangup"] is True
    assert s.gui["call"]["fields"][0] == "Caller-Destination-Number"
    assert s.gui["registration"]["hash"] == "registrations"
    assert s.cli_keys == ["abcdefgh"]


def test_freeswitch_esl_env_overrides_file(tmp_path):
    s = Settings.load(env={"FREESWITCH_ESL": "127.0.0.1:8022:Clue:Con"})
    assert s.freeswitch == [FreeSwitchNode("127.0.0.1", "127.0.0.1", 8022, "Clue:Con")]


def test_defaults_without_file():
    s = Settings.load(env={})
    assert s.port == 5000 and s.freeswitch == []
    assert s.gui["call"]["remove_hangup"] is False and s.gui["call"]["channel"] == ""


@pytest.mark.parametrize("text,needle", [
    ('{"freeswitch": [{"port": 1}]}', "host"),
    ('{"a": 1,}', "line 1"),
    ('[1]', "object"),
    ('{"freeswitch": [{"host": "a", "port": "x"}]}', "port"),
])
def test_bad_config_names_the_problem(tmp_path, text, needle):
    cfg = tmp_path / "cti.json"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        Settings.load(env={"FSCTI_CONFIG": str(cfg)})
