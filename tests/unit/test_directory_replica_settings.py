"""The `directory.replica*` settings (docs/configuration.md; docs/freeswitch.md §7.1)."""
import socket

import pytest

from app.config import ConfigError, Settings


def test_off_by_default_with_a_local_path_and_this_host_name():
    s = Settings.load(env={})
    assert (s.directory_replica, s.directory_replica_path, s.directory_replica_lease) == (False, "var/replica", 1.0)
    assert s.directory_replica_host == socket.gethostname()


def test_from_the_environment():
    s = Settings.load(env={"FSCTI_DIRECTORY_REPLICA": "on", "FSCTI_DIRECTORY_REPLICA_PATH": "/srv/r",
                           "FSCTI_DIRECTORY_REPLICA_HOST": "web-2", "FSCTI_DIRECTORY_REPLICA_LEASE": "2.5"})
    assert (s.directory_replica, s.directory_replica_path, s.directory_replica_host,
            s.directory_replica_lease) == (True, "/srv/r", "web-2", 2.5)


def test_from_the_file(tmp_path):
    f = tmp_path / "cti.json"
    f.write_text('{"directory": {"replica": true, "replica_host": "web-3", "replica_lease": 0.5}}')
    s = Settings.load(env={"FSCTI_CONFIG": str(f)})
    assert (s.directory_replica, s.directory_replica_host, s.directory_replica_lease) == (True, "web-3", 0.5)


@pytest.mark.parametrize("env,name", [
    ({"FSCTI_DIRECTORY_REPLICA": "perhaps"}, "directory.replica"),
    ({"FSCTI_DIRECTORY_REPLICA_LEASE": "0.1"}, "directory.replica_lease"),
    ({"FSCTI_DIRECTORY_REPLICA_LEASE": "31"}, "directory.replica_lease"),
    ({"FSCTI_DIRECTORY_REPLICA_LEASE": "soon"}, "directory.replica_lease"),
])
def test_refused(env, name):
    with pytest.raises(ConfigError, match=name):
        Settings.load(env=env)


def test_a_file_value_of_the_wrong_type_is_refused(tmp_path):
    f = tmp_path / "cti.json"
    f.write_text('{"directory": {"replica": "yes please"}}')
    with pytest.raises(ConfigError, match="directory.replica"):
        Settings.load(env={"FSCTI_CONFIG": str(f)})
