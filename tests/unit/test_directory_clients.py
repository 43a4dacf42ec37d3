"""The hot path's Redis connection: handshake, errors, reconnect, timeout, fork (real Redis)."""
import os

import pytest
import redis as redis_lib

from app.directory.hotconn import HotConnection
from app.directory.resp import pack
from tests.support.net import HeldPort, listening_socket
from tests.support.redis_server import RedisServer, needs_redis_server


def test_pack_is_resp():
    assert pack("GET", "k", 4) == b"*3\r\n$3\r\nGET\r\n$1\r\nk\r\n$1\r\n4\r\n"


def test_selects_the_db_of_the_url(redis_url):
    redis_lib.Redis.from_url(redis_url).set("fscti:test:hot", "x\u00e9")
    hot = HotConnection(redis_url, 0.5)
    assert hot.execute_command("GET", "fscti:test:hot") == "x\u00e9"
    assert hot.execute_command("GET", "fscti:test:none") is None


def test_errors_are_redis_py_exceptions(redis_url):
    hot = HotConnection(redis_url, 0.5)
    with pytest.raises(redis_lib.exceptions.NoScriptError):
        hot.execute_command("EVALSHA", "0" * 40, 0)
    with pytest.raises(redis_lib.ResponseError):
        hot.execute_command("NOSUCHCOMMAND")
    assert hot.execute_command("PING") == "PONG"  # the connection survives error replies


def test_reconnects_once_after_the_server_closed_the_connection(redis_url):
    hot = HotConnection(redis_url, 0.5)
    my_id = hot.execute_command("CLIENT", "ID")
    redis_lib.Redis.from_url(redis_url).client_kill_filter(_id=my_id)
    assert hot.execute_command("PING") == "PONG"
    assert hot.execute_command("CLIENT", "ID") != my_id


def test_refused_and_silent_servers_raise_quickly():
    with HeldPort() as dead:  # bound, never listening: refused, and nobody else can take it
        with pytest.raises(redis_lib.ConnectionError):
            HotConnection(dead.url(), 0.2).execute_command("PING")
    silent = listening_socket()  # accepts connections (kernel backlog) but never answers
    try:
        with pytest.raises(redis_lib.TimeoutError):
            HotConnection(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", 0.2).execute_command("PING")
    finally:
        silent.close()


@pytest.mark.integration     # forks a child process
def test_a_forked_child_uses_its_own_connection(redis_url):
    hot = HotConnection(redis_url, 0.5)
    parent_id = hot.execute_command("CLIENT", "ID")
    pid = os.fork()
    if pid == 0:  # child
        try:
            ok = hot.execute_command("CLIENT", "ID") != parent_id
        except Exception:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert hot.execute_command("CLIENT", "ID") == parent_id


@pytest.mark.integration     # a private redis-server
@needs_redis_server
def test_auth_from_the_url():
    with RedisServer("--requirepass", "s3cret") as srv:
        srv.client(db=2, password="s3cret").set("k", "v")
        url = srv.url_for(2).replace("redis://", "redis://:s3cret@")
        assert HotConnection(url, 0.5).execute_command("GET", "k") == "v"
        with pytest.raises(redis_lib.ResponseError):
            HotConnection(url.replace(":s3cret@", ":wrong@"), 0.5).execute_command("GET", "k")
