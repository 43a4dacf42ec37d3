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
