"""fscti.directory.flush_cache on a real Celery worker process against wire-level peers."""
import pytest

from tests.eslpeer import EslPeer
from tests.eslpeer.procs import log_text, process_env, running, wait_for, worker_cmd
from tests.support.net import HeldPort
from tests.eslpeer.broker import purge_queues

pytestmark = pytest.mark.integration

DOMAIN = "flush-test.example"


def flushes(peer, domain=DOMAIN):
    """The flush command lines a peer received for our test domain, in order."""
    return [line for line in peer.commands() if line.startswith("api xml_flush_cache ")
            and line.endswith(f" {domain}")]


def expected(*names):
    return [f"api xml_flush_cache {key} {name} {DOMAIN}" for name in names
            for key in ("id", "number-alias")]


@pytest.fixture
def clean_queue(settings):
    purge_queues(settings.celery_broker_url, "celery")
    yield


def test_every_node_gets_the_exact_flush_commands(app, settings, tmp_path, clean_queue):
    with EslPeer() as fs1, EslPeer() as fs2:
        env = process_env(settings, tmp_path, nodes=[("fs1", fs1), ("fs2", fs2)])
        log = tmp_path / "worker.log"
        with running(worker_cmd(), env, log):
            celery = app.extensions["celery"]
            celery.send_task("fscti.directory.flush_cache", args=[DOMAIN, ["1001", "5001", "1001"]])
            for peer in (fs1, fs2):
                wait_for(lambda: len(flushes(peer)) >= 4, 30, what=f"flushes on {peer.port}", log=log)
            # Invalid names never reach a socket; the valid ones still go out.
            celery.send_task("fscti.directory.flush_cache",
                             args=[DOMAIN, ["1002", "10 02", "x\n\napi system id"]])
            wait_for(lambda: len(flushes(fs2)) >= 6, 30, what="second flush", log=log)
            celery.send_task("fscti.directory.flush_cache", args=["bad domain", ["1003"]])
            celery.send_task("fscti.directory.flush_cache", args=[DOMAIN, ["1004"]])
            for peer in (fs1, fs2):   # each node is flushed on its own: wait for both
                wait_for(lambda: len(flushes(peer)) >= 8, 30, what=f"third flush on {peer.port}",
                         log=log)
            # Two worker slots: the refused domain may be logged after 1004 went out.
            wait_for(lambda: "refusing invalid domain" in log_text(log), 30,
                     what="the refused domain in the log", log=log)
    for peer in (fs1, fs2):
        # Separate requests may run in parallel; each name's two keys go out in order.
        got = flushes(peer)
        assert sorted(got) == sorted(expected("1001", "5001", "1002", "1004"))
        for name in ("1001", "5001", "1002", "1004"):
            assert [c.split()[2] for c in got if c.split()[3] == name] == ["id", "number-alias"]
        assert not [c for c in peer.commands() if "system" in c or "1003" in c]
    text = log_text(log)
    assert "skipping 2 invalid name(s)" in text and "refusing invalid domain" in text


def test_a_node_that_is_down_gets_its_flush_when_it_comes_back(app, settings, tmp_path, clean_queue):
    # Held, never listening: refused until the late peer listens on it (nobody else can take it).
    down = HeldPort()
    with down, EslPeer() as up:
        env = process_env(settings, tmp_path,
                          nodes=[("down", (down.host, down.port, "ClueCon")), ("up", up)])
        log = tmp_path / "worker.log"
        with running(worker_cmd(), env, log):
            app.extensions["celery"].send_task("fscti.directory.flush_cache", args=[DOMAIN, ["2001"]])
            # The reachable node is not held up by the unreachable one.
            wait_for(lambda: flushes(up) == expected("2001"), 30, what="flush on the up node",
                     log=log)
            wait_for(lambda: "unreachable" in log_text(log), 30, what="a retry of the down node",
                     log=log)
            with EslPeer(port=down.port) as late:
                wait_for(lambda: flushes(late) == expected("2001"), 60,
                         what="flush on the late node", log=log)
    text = log_text(log)
    assert "down: FreeSWITCH unreachable" in text and "cache flush of flush-test.example" in text
    assert "Traceback" not in text
