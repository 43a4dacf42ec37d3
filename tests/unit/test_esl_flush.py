"""The flush task's command list, and one node's flush run in-process against the peer."""
import pytest

from tests.eslpeer import EslPeer
from workers.tasks.flush import flush_cache, flush_cache_node, flush_commands


def test_each_name_is_flushed_under_both_keys_once():
    assert flush_commands("pbx.example", ["1001", "5001", "1001", "bad name", "x\ny"]) == [
        "xml_flush_cache id 1001 pbx.example", "xml_flush_cache number-alias 1001 pbx.example",
        "xml_flush_cache id 5001 pbx.example", "xml_flush_cache number-alias 5001 pbx.example",
    ]


def test_one_node_run_sends_exactly_the_commands(app_ctx, settings, monkeypatch):
    with EslPeer() as peer:
        monkeypatch.setattr(settings, "freeswitch", [peer.node("fs1")])
        peer.api.on("xml_flush_cache", lambda args: "-ERR xml_flush_cache Command not found!\n"
                    if args.startswith("number-alias") else "+OK cleared 1 entry\n")
        # A refused command is logged, not retried, and the others still go out.
        assert flush_cache_node.run("fs1", "pbx.example", ["1001", "1002"]) == {
            "node": "fs1", "flushed": 4}
        assert [c for c in peer.commands() if c.startswith("api ")] == [
            "api xml_flush_cache id 1001 pbx.example", "api xml_flush_cache number-alias 1001 pbx.example",
            "api xml_flush_cache id 1002 pbx.example", "api xml_flush_cache number-alias 1002 pbx.example",
        ]


def test_unknown_node_and_bad_input_do_nothing(app_ctx, settings, monkeypatch):
    monkeypatch.setattr(settings, "freeswitch", [])
    assert flush_cache_node.run("gone", "pbx.example", ["1001"]) == {"node": "gone", "flushed": 0}
    assert flush_cache.run("pbx.example", ["1001"]) == {"domain": "pbx.example", "nodes": []}
    assert flush_cache.run("bad domain", ["1001"])["nodes"] == []
    assert flush_cache.run("pbx.example", "1001")["nodes"] == []


FLUSHES_1001 = ["api xml_flush_cache id 1001 pbx.example",
                "api xml_flush_cache number-alias 1001 pbx.example"]


def test_a_renamed_node_is_found_by_its_address(app_ctx, settings, monkeypatch, caplog):
    with EslPeer() as peer:
        monkeypatch.setattr(settings, "freeswitch", [peer.node("fs1")])
        # queued before: FREESWITCH_ESL named the node after its host, no address was sent
        assert flush_cache_node.run("127.0.0.1", "pbx.example", ["1001"]) == {
            "node": "fs1", "flushed": 2}
        # queued with its address, under a name the config no longer has
        assert flush_cache_node.run("old", "pbx.example", ["1001"],
                                    address=f"127.0.0.1:{peer.port}")["node"] == "fs1"
        assert [c for c in peer.commands() if c.startswith("api ")] == FLUSHES_1001 * 2
    assert caplog.text.count("is configured as fs1 now (same address)") == 2


def test_a_node_gone_from_the_config_is_flushed_on_every_configured_node(
        app_ctx, settings, monkeypatch, caplog):
    from tests.eslpeer.broker import BrokerQueue

    queue = BrokerQueue(settings.celery_broker_url, "celery")
    queue.purge()
    with EslPeer() as fs1, EslPeer() as fs2:
        monkeypatch.setattr(settings, "freeswitch", [fs1.node("fs1"), fs2.node("fs2")])
        assert flush_cache_node.run("gone", "pbx.example", ["1001"], address="10.9.9.9:8021") == {
            "node": "gone", "flushed": 0, "redirected": ["fs1", "fs2"]}
        sent = queue.drain()
        queue.purge()
        assert [(m.task, m.args) for m in sent] == [
            ("fscti.directory.flush_cache_node", ["fs1", "pbx.example", ["1001"]]),
            ("fscti.directory.flush_cache_node", ["fs2", "pbx.example", ["1001"]])]
        # the redirected tasks, as a worker runs them
        for node, peer in (("fs1", fs1), ("fs2", fs2)):
            flush_cache_node.run(node, "pbx.example", ["1001"], address=f"127.0.0.1:{peer.port}")
            assert [c for c in peer.commands() if c.startswith("api ")] == FLUSHES_1001
    assert "node gone (10.9.9.9:8021) is no longer configured; flushing pbx.example" in caplog.text
