"""AnswerCache (app.directory.cache) and the directory.cache settings."""
import pytest

from app.config import ConfigError, Settings
from app.directory import cache as cache_mod
from app.directory.cache import AnswerCache


def deps(domain):
    return ("fscti:domains", f"cti_exten@{domain}", f"fscti:alias@{domain}", f"fscti:disabled@{domain}")


def filled():
    c = AnswerCache(100, 60.0)
    c.put(("a.example", "1001", "id"), b"A1", deps("a.example"))
    c.put(("a.example", "5001", "id"), b"A5", deps("a.example"))
    c.put(("b.example", "1001", "id"), b"B1", deps("b.example"))
    return c


def test_put_and_get():
    c = filled()
    assert c.get(("a.example", "1001", "id")) == b"A1"
    assert c.get(("a.example", "1001", "alias")) is None
    assert len(c) == 3


@pytest.mark.parametrize("key", ["cti_exten@a.example", "fscti:alias@a.example", "fscti:disabled@a.example"])
def test_invalidating_a_domain_key_drops_that_domain_only(key):
    c = filled()
    c.invalidate([key])
    assert c.get(("a.example", "1001", "id")) is None and c.get(("a.example", "5001", "id")) is None
    assert c.get(("b.example", "1001", "id")) == b"B1"
    assert len(c) == 1


def test_invalidating_the_domains_hash_drops_everything():
    c = filled()
    c.invalidate(["fscti:domains"])
    assert len(c) == 0


def test_unrelated_keys_and_repeated_invalidations_are_harmless():
    c = filled()
    c.invalidate(["cti_userinfo@a.example", "cti_exten@c.example"])
    assert len(c) == 3
    c.invalidate(["cti_exten@b.example", "cti_exten@b.example", "fscti:alias@b.example"])
    assert len(c) == 2
    c.put(("b.example", "1001", "id"), b"B1-new", deps("b.example"))  # the index was cleaned up
    c.invalidate(["fscti:disabled@b.example"])
    assert c.get(("b.example", "1001", "id")) is None and len(c) == 2


def test_replacing_an_entry_keeps_one_index_entry():
    c = AnswerCache(10, 60.0)
    k = ("a.example", "1001", "id")
    c.put(k, b"old", deps("a.example"))
    c.put(k, b"new", deps("a.example"))
    assert c.get(k) == b"new" and len(c) == 1
    c.invalidate(["cti_exten@a.example"])
    assert len(c) == 0 and c._by_dep == {}


def test_clear():
    c = filled()
    c.clear()
    assert len(c) == 0 and c._by_dep == {}


def test_bounded_oldest_goes_first():
    c = AnswerCache(2, 60.0)
    for i in range(3):
        c.put(("a.example", str(i), "id"), b"%d" % i, deps("a.example"))
    assert len(c) == 2
    assert c.get(("a.example", "0", "id")) is None
    assert c.get(("a.example", "2", "id")) == b"2"
    c.invalidate(["cti_exten@a.example"])
    assert len(c) == 0 and c._by_dep == {}


def test_entries_older_than_max_age_are_not_served(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(cache_mod, "_monotonic", lambda: now[0])
    c = AnswerCache(10, 1.0)
    c.put(("a.example", "1001", "id"), b"A1", deps("a.example"))
    now[0] += 1.0
    assert c.get(("a.example", "1001", "id")) == b"A1"
    now[0] += 0.001
    assert c.get(("a.example", "1001", "id")) is None and len(c) == 0


def test_settings_defaults():
    s = Settings.load(env={})
    assert (s.directory_cache, s.directory_cache_entries, s.directory_cache_max_age) == (True, 4096, 1.0)


@pytest.mark.parametrize("value,expected", [("off", False), ("0", False), ("false", False),
                                            ("on", True), ("1", True), ("TRUE", True)])
def test_settings_env(value, expected):
    s = Settings.load(env={"FSCTI_DIRECTORY_CACHE": value, "FSCTI_DIRECTORY_CACHE_ENTRIES": "10",
                           "FSCTI_DIRECTORY_CACHE_MAX_AGE": "0.5"})
    assert (s.directory_cache, s.directory_cache_entries, s.directory_cache_max_age) == (expected, 10, 0.5)


def test_settings_file(tmp_path):
    f = tmp_path / "cti.json"
    f.write_text('{"directory": {"cache": false, // off\n "cache_entries": 50, "cache_max_age": 2}}')
    s = Settings.load(env={"FSCTI_CONFIG": str(f)})
    assert (s.directory_cache, s.directory_cache_entries, s.directory_cache_max_age) == (False, 50, 2.0)


@pytest.mark.parametrize("env,name", [
    ({"FSCTI_DIRECTORY_CACHE": "maybe"}, "directory.cache"),
    ({"FSCTI_DIRECTORY_CACHE_ENTRIES": "0"}, "directory.cache_entries"),
    ({"FSCTI_DIRECTORY_CACHE_ENTRIES": "x"}, "directory.cache_entries"),
    ({"FSCTI_DIRECTORY_CACHE_MAX_AGE": "0"}, "directory.cache_max_age"),
    ({"FSCTI_DIRECTORY_CACHE_MAX_AGE": "61"}, "directory.cache_max_age"),
])
def test_settings_refused(env, name):
    with pytest.raises(ConfigError, match=name):
        Settings.load(env=env)


def test_settings_file_wrong_type(tmp_path):
    f = tmp_path / "cti.json"
    f.write_text('{"directory": {"cache": "sometimes"}}')
    with pytest.raises(ConfigError, match="directory.cache"):
        Settings.load(env={"FSCTI_CONFIG": str(f)})
