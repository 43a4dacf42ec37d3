"""The hot connection's RESP3 side against a wire-level peer: pushes it knows, pushes it does
not, replies nobody asked for, garbage, a closed socket, and a server without RESP3."""
import fcntl
import select
import socket
import struct
import termios
import threading

import hiredis
import pytest

from app.directory.hotconn import HotConnection


class Peer:
    """A RESP peer on port 0: answers the handshake and PING, and sends whatever a test asks."""

    def __init__(self, resp3: bool = True):
        self.resp3 = resp3
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        self.conn = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.listener.accept()
        self.conn = conn
        self.ready.set()
        reader = hiredis.Reader()
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            reader.feed(data)
            cmd = reader.gets()
            while cmd is not False:
                conn.sendall(self._reply(cmd))
                cmd = reader.gets()

    def _reply(self, cmd) -> bytes:
        name = cmd[0].upper()
        if name == b"HELLO":
            return b"%1\r\n+proto\r\n:3\r\n" if self.resp3 else b"-ERR unknown command 'HELLO'\r\n"
        if name in (b"CLIENT", b"SELECT", b"AUTH"):
            return b"+OK\r\n"
        return b"+PONG\r\n"

    def send(self, raw: bytes):
        assert self.ready.wait(5)
        self.conn.sendall(raw)

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.listener.close()


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


def connected(url):
    hot = HotConnection(url, 1.0, 10, 60.0)
    assert hot.execute_command("PING") == "PONG"
    c = hot.cache()
    c.put(("a", "1", "id"), b"A", ("fscti:domains", "cti_exten@a"))
    c.put(("b", "1", "id"), b"B", ("fscti:domains", "cti_exten@b"))
    return hot


def wait_readable(hot):
    sock = hot._local.conn.sock
    assert select.select([sock], [], [], 5)[0], "the peer's bytes never arrived"


def test_an_invalidation_drops_what_depends_on_its_keys(peer):
    hot = connected(peer.url)
    peer.send(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$11\r\ncti_exten@a\r\n")
    wait_readable(hot)
    c = hot.fresh_cache()
    assert c.get(("a", "1", "id")) is None and c.get(("b", "1", "id")) == b"B"
    peer.send(b">2\r\n$10\r\ninvalidate\r\n_\r\n")  # FLUSHDB / FLUSHALL
    wait_readable(hot)
    assert len(hot.fresh_cache()) == 0
    assert hot.execute_command("PING") == "PONG"


def test_an_invalidation_split_across_reads_is_applied_whole(peer):
    hot = connected(peer.url)
    peer.send(b">2\r\n$10\r\ninvali")
    wait_readable(hot)
    assert len(hot.fresh_cache()) == 2  # half a frame: nothing yet
    peer.send(b"date\r\n*1\r\n$11\r\ncti_exten@b\r\n")
    wait_readable(hot)
    assert [k for k in (("a", "1", "id"), ("b", "1", "id")) if hot.fresh_cache().get(k)] == [("a", "1", "id")]


def test_a_push_before_a_reply_is_applied_before_the_reply_returns(peer):
    hot = connected(peer.url)
    peer.send(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$11\r\ncti_exten@a\r\n")
    wait_readable(hot)
    assert hot.execute_command("PING") == "PONG"  # the push was read on the way
    assert hot.cache().get(("a", "1", "id")) is None and hot.cache().get(("b", "1", "id")) == b"B"


def test_an_unknown_push_clears_everything(peer):
    hot = connected(peer.url)
    peer.send(b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n")
    wait_readable(hot)
    c = hot.fresh_cache()
    assert c is not None and len(c) == 0


@pytest.mark.parametrize("raw", [b"+OK\r\n", b"!!not resp\r\n"], ids=["unsolicited-reply", "garbage"])
def test_a_reply_nobody_asked_for_or_garbage_drops_the_connection(peer, raw):
    hot = connected(peer.url)
    cache = hot.cache()
    peer.send(raw)
    wait_readable(hot)
    assert hot.fresh_cache() is None
    assert hot.cache() is None and len(cache) == 0


def test_a_closed_connection_clears_the_cache(peer):
    hot = connected(peer.url)
    cache = hot.cache()
    peer.conn.shutdown(socket.SHUT_RDWR)
    wait_readable(hot)
    assert hot.fresh_cache() is None and len(cache) == 0


def test_a_server_without_resp3_means_no_cache():
    p = Peer(resp3=False)
    try:
        hot = HotConnection(p.url, 1.0, 10, 60.0)
        assert hot.execute_command("PING") == "PONG"
        assert hot.cache() is None and hot.fresh_cache() is None and hot.cache_entries == 0
    finally:
        p.close()


def test_a_large_backlog_clears_everything(peer):
    """4 KiB or more waiting: the tail may not have arrived yet, so nothing is trusted."""
    from app.directory.hotconn import DRAIN_CLEAR

    hot = connected(peer.url)
    one = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$18\r\ncti_exten@other.ex\r\n"
    backlog = one * (DRAIN_CLEAR // len(one) + 1)  # none of these keys is a dependency
    peer.send(backlog)
    sock = hot._local.conn.sock
    for _ in range(100):  # until all of it is waiting in our receive queue
        wait_readable(hot)
        if struct.unpack("i", fcntl.ioctl(sock, termios.FIONREAD, b"\0\0\0\0"))[0] >= len(backlog):
            break
        select.select([], [], [], 0.01)
    assert len(hot.fresh_cache()) == 0


def test_a_small_backlog_of_unrelated_keys_keeps_the_cache(peer):
    hot = connected(peer.url)
    peer.send(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$18\r\ncti_exten@other.ex\r\n" * 3)
    wait_readable(hot)
    assert len(hot.fresh_cache()) == 2
