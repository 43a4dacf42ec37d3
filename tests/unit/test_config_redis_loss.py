"""The settings of docs/redis-loss.md: the listener's Redis check interval, the interval of
repeated unreachable-node warnings, and finding a node by its address."""
import pytest

from app.config import ConfigError, FreeSwitchNode, Settings


def test_defaults_and_environment():
    s = Settings.load(env={})
    assert s.unreachable_log_interval == 300.0 and s.listener["redis_check_interval"] == 1.0
    s = Settings.load(env={"FSCTI_UNREACHABLE_LOG_INTERVAL": "2.5",
                           "FSCTI_LISTENER_REDIS_CHECK_INTERVAL": "0.2"})
    assert s.unreachable_log_interval == 2.5 and s.listener["redis_check_interval"] == 0.2


@pytest.mark.parametrize("value", ["0", "-1", "nan", "x", "100000"])
def test_bad_intervals_are_refused(value):
    with pytest.raises(ConfigError, match="unreachable_log_interval"):
        Settings.load(env={"FSCTI_UNREACHABLE_LOG_INTERVAL": value})
    with pytest.raises(ConfigError, match="redis_check_interval"):
        Settings.load(env={"FSCTI_LISTENER_REDIS_CHECK_INTERVAL": value if value != "100000"
                           else "0"})


def test_node_at_an_address():
    s = Settings.load(env={})
    s.freeswitch = [FreeSwitchNode("fs1", "PBX1.example", 8021),
                    FreeSwitchNode("fs2", "10.0.0.2", 8021),
                    FreeSwitchNode("fs3", "10.0.0.2", 8022)]
    assert s.node_at("pbx1.example:8021").name == "fs1"
    assert s.node_at("pbx1.example").name == "fs1"          # FREESWITCH_ESL names it after its host
    assert s.node_at("10.0.0.2:8022").name == "fs3"
    assert s.node_at("10.0.0.2") is None                    # two nodes on that host: not a guess
    assert s.node_at("10.0.0.9:8021") is None and s.node_at("") is None
