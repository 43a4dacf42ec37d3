"""The `listener` settings: defaults, file section, FSCTI_LISTENER_* env, refusals."""
import pytest

from app.config import DEFAULT_LISTENER, ConfigError, Settings


def test_defaults():
    assert Settings.load(env={}).listener == DEFAULT_LISTENER
    assert DEFAULT_LISTENER["decoder"] == "frames" and DEFAULT_LISTENER["batch_size"] == 500


def test_file_then_env(tmp_path):
    cfg = tmp_path / "cti.json"
    cfg.write_text('{"listener": {"batch_size": 100, /* comment */ "decoder": "esl"}}')
    s = Settings.load(env={"FSCTI_CONFIG": str(cfg), "FSCTI_LISTENER_BATCH_SIZE": "50",
                           "FSCTI_LISTENER_BATCH_DELAY_MS": "2.5"})
    assert s.listener["batch_size"] == 50 and isinstance(s.listener["batch_size"], int)
    assert s.listener["batch_delay_ms"] == 2.5 and s.listener["decoder"] == "esl"


@pytest.mark.parametrize("section,message", [
    ({"bogus": 1}, "listener.bogus: unknown setting"),
    ({"batch_size": 0}, "listener.batch_size: must be a positive number"),
    ({"buffer_max": -1}, "listener.buffer_max: must be a positive number"),
    ({"backoff_max": "soon"}, "listener.backoff_max: not a number"),
    ({"idle_timeout": True}, "listener.idle_timeout: must be a positive number"),
    ({"decoder": "xml"}, "listener.decoder: must be one of frames, esl"),
])
def test_bad_values_are_refused(tmp_path, section, message):
    import json

    cfg = tmp_path / "cti.json"
    cfg.write_text(json.dumps({"listener": section}))
    with pytest.raises(ConfigError, match=message):
        Settings.load(env={"FSCTI_CONFIG": str(cfg)})
