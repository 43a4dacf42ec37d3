"""/directory serves SIP passwords: by default only loopback and private clients may ask.

Settings come from real config files (Settings.load); requests go through the real /directory
view with the client address set per request, against the real Redis mirror.
"""
import ipaddress
import json
import logging

import pytest

from app import create_app
from app.config import ConfigError, Settings
from app.allowlist import Guard
from tests.support.directory_lookup import BASE, d, post, users  # noqa: F401  (d is a fixture)

PRIVATE = ["127.0.0.1", "10.1.2.3", "172.16.5.5", "172.31.255.254", "192.168.1.10", "::1",
           "fd00::5", "::ffff:10.0.0.7"]
PUBLIC = ["203.0.113.5", "8.8.8.8", "172.32.0.1", "100.64.0.1", "2001:db8::1", "::ffff:8.8.8.8"]


def load(tmp_path, directory=None, **env):
    cfg = tmp_path / "cti.json"
    cfg.write_text(json.dumps({} if directory is None else {"directory": directory}))
    return Settings.load(env={"FSCTI_CONFIG": str(cfg), **env})


@pytest.fixture
def guard_of(app_ctx):
    """Install the guard the app would build from these settings."""
    def install(settings):
        app_ctx.extensions["fscti-directory-guard"] = Guard(settings)
    yield install
    app_ctx.extensions.pop("fscti-directory-guard", None)


def status(client, addr, **kw):
    pairs = BASE + [("action", "sip_auth"), ("key", "id"), ("user", "1001"),
                    ("domain", "127.0.0.1")]
    resp = post(client, pairs, environ_base={"REMOTE_ADDR": addr}, **kw)
    if resp.status_code == 200:
        assert b'id="1001"' in resp.data
    return resp.status_code


def test_the_default_answers_private_clients_only(tmp_path, client, d, guard_of):
    s = load(tmp_path)
    assert s.directory_credentials == "" and s.directory_public_networks() == []
    guard_of(s)
    assert {a: status(client, a) for a in PRIVATE} == {a: 200 for a in PRIVATE}
    assert {a: status(client, a) for a in PUBLIC} == {a: 403 for a in PUBLIC}


@pytest.mark.parametrize("directory, env", [
    ({"allow": ["any"]}, {}), ({"allow": ["0.0.0.0/0", "::/0"]}, {}),
    ({}, {"FSCTI_DIRECTORY_ALLOW": "any"}),
    ({"allow": ["10.0.0.0/8"]}, {"FSCTI_DIRECTORY_ALLOW": "ANY"}),
])
def test_any_opens_it_explicitly(tmp_path, client, d, guard_of, directory, env):
    s = load(tmp_path, directory, **env)
    assert set(map(str, s.directory_allow)) == {"0.0.0.0/0", "::/0"}
    assert s.directory_public_networks() == ["0.0.0.0/0", "::/0"]
    guard_of(s)
    assert all(status(client, a) == 200 for a in PUBLIC + PRIVATE)


def test_credentials_alone_keep_it_open_to_any_address_that_has_them(tmp_path, client, d,
                                                                      guard_of):
    import base64

    s = load(tmp_path, {"credentials": "fs:s3cret-pass"})
    assert s.directory_allow == [] and s.directory_public_networks() == []
    guard_of(s)
    good = {"Authorization": "Basic " + base64.b64encode(b"fs:s3cret-pass").decode()}
    assert status(client, "203.0.113.5") == 401
    assert status(client, "203.0.113.5", headers=good) == 200


def test_an_explicit_list_is_used_as_given(tmp_path, client, d, guard_of):
    s = load(tmp_path, {"allow": ["10.1.0.0/16", "203.0.113.0/24"]})
    assert s.directory_public_networks() == ["203.0.113.0/24"]
    guard_of(s)
    assert status(client, "203.0.113.5") == 200 and status(client, "10.1.9.9") == 200
    assert status(client, "10.2.0.1") == 403 and status(client, "127.0.0.1") == 403
    # an empty list is the default, not "any"
    assert load(tmp_path, {"allow": []}).directory_allow == Settings().directory_allow


@pytest.mark.parametrize("allow, needle", [([10], "10 is not a network"),
                                           (["10.0.0.0/33"], "directory.allow"),
                                           ("10.0.0.0/8", "must be a list")])
def test_bad_allow_entries(tmp_path, allow, needle):
    with pytest.raises(ConfigError, match=needle):
        load(tmp_path, {"allow": allow})


def test_the_default_of_the_dataclass_is_private_too():
    nets = Settings().directory_allow
    assert ipaddress.ip_network("10.0.0.0/8") in nets and ipaddress.ip_network("::1/128") in nets
    assert not any(n.num_addresses >= 2 ** 32 and n.version == 4 for n in nets)


def _warnings(caplog, settings, app):
    caplog.clear()
    try:
        with caplog.at_level(logging.WARNING, logger="fscti.directory"):
            create_app(settings, TESTING=True)
    finally:
        app.extensions["celery"].set_current()      # the session app's Celery again
        app.extensions["celery"].set_default()
    return [r.getMessage() for r in caplog.records if r.name == "fscti.directory"]


def test_a_warning_at_start_when_public_clients_need_no_credentials(tmp_path, settings, caplog,
                                                                    app):
    import dataclasses

    def variant(directory, **env):
        loaded = load(tmp_path, directory, **env)
        return dataclasses.replace(settings, directory_allow=loaded.directory_allow,
                                   directory_credentials=loaded.directory_credentials)

    def warnings(directory):
        return _warnings(caplog, variant(directory), app)

    assert warnings(None) == []
    assert warnings({"credentials": "fs:s3cret-pass"}) == []
    assert warnings({"allow": ["any"], "credentials": "fs:s3cret-pass"}) == []
    (message,) = warnings({"allow": ["any"]})
    assert "0.0.0.0/0, ::/0" in message and "without credentials" in message
    (message,) = warnings({"allow": ["192.168.0.0/16", "198.51.100.0/24"]})
    assert "198.51.100.0/24" in message and "192.168" not in message
