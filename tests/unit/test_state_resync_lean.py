"""A resync leaves out the rows the state already has as they are (app/state/snapshot.py,
`live`): the state must end exactly as when every row is sent, in every case the full
resync handles (bindings added, lost unregisters, newer registers, names moved to the
extension they now mean, passes cut into many runs)."""
import pytest

from app.state import generation, ingest, keys, snapshot
from app.state.ingest import apply_events
from app.state.resync import apply_snapshot, live_bindings
from tests.eslpeer.aliases import renamed_api_output
from tests.support.replay import NODE, by_seq, outputs, phase_us, slim_events, until
from tests.support.snapshots import FS1, T_REG, XML, snap
from tests.support.alias_state import ALIASES, apply, events, mirror_all


def marked(rdb, settings):
    """The node's last resync merged rows under today's multiple-registrations setting
    (what resync_node records): the next one may leave rows out."""
    multi = "1" if settings.state["multiple_registrations"] else "0"
    rdb.hset(keys.node(NODE), "resync_multi", multi)


def state(rdb):
    return outputs(rdb), sorted(rdb.zrange(keys.node_bindings(NODE), 0, -1, withscores=True))


def emptied(rdb):
    rdb.flushdb()
    generation.stamp(rdb)       # a new data generation, as the suite's own reset does


def both(rdb, settings, setup, *snaps):
    """The state after `setup` then the snapshots, every row sent, then rows left out; and
    what the last snapshot in each mode did."""
    ends = []
    for lean in (False, True):
        emptied(rdb)
        setup()
        results = []
        for s in snaps:
            if lean:
                marked(rdb, settings)
            results.append(apply_snapshot(rdb, settings, FS1, s))
        ends.append((state(rdb), results[-1]))
    return ends


def test_in_sync_nothing_is_sent_and_nothing_changes(rdb, settings):
    t = phase_us("register_1001_1002:end")
    (full, r_full), (lean, r_lean) = both(
        rdb, settings, lambda: apply_events(rdb, settings, NODE, until(slim_events(settings), t),
                                            now=T_REG), snap(T_REG))
    assert lean == full
    assert r_full.unchanged == 0 and r_lean.unchanged == 3     # 1001, 1002, 1003 as they are
    assert r_lean.applied == 1                                 # the node's Core-UUID only


def test_missing_bindings_are_sent_and_lost_unregisters_end(rdb, settings):
    # 1003's register reached us, 1001's first binding lost its unregister, 1002 is missing
    (full, r_full), (lean, r_lean) = both(
        rdb, settings, lambda: apply_events(rdb, settings, NODE,
                                            by_seq(settings, 427, 432, 437), now=T_REG),
        snap(T_REG))
    assert lean == full
    assert r_lean.removed == r_full.removed == 1
    assert r_lean.unchanged == 1                               # 1003


def test_a_second_resync_of_what_the_first_added_sends_nothing(rdb, settings):
    (full, _), (lean, r_lean) = both(
        rdb, settings, lambda: apply_events(rdb, settings, NODE, by_seq(settings, 427), now=T_REG),
        snap(T_REG), snap(T_REG))
    assert lean == full and r_lean.unchanged == 3


def test_a_register_newer_than_the_snapshot_survives_it(rdb, settings):
    def setup():
        apply_events(rdb, settings, NODE, until(slim_events(settings),
                                                phase_us("register_1001_1002:end")), now=T_REG)
        apply_events(rdb, settings, NODE, by_seq(settings, 1071), now=T_REG)   # 1-5887, later
    (full, _), (lean, _) = both(rdb, settings, setup, snap(T_REG))
    assert lean == full


def test_a_longer_expiry_than_the_state_has_is_sent(rdb, settings):
    """A refresh whose event was lost: FreeSWITCH's expiry is later than ours."""
    t = phase_us("register_1001_1002:end")
    apply_events(rdb, settings, NODE, until(slim_events(settings), t), now=T_REG)
    later = T_REG + 600_000_000          # the same rows, ten minutes on: every expiry later
    marked(rdb, settings)
    result = apply_snapshot(rdb, settings, FS1, snap(later))
    assert result.unchanged == 0
    member = keys.binding_member("127.0.0.1", "1001", NODE, "internal", "1-5542@127.0.0.1")
    assert rdb.zscore(keys.node_bindings(NODE), member) == (later // 1_000_000 + 3660) * 1_000_000


def test_a_binding_whose_name_now_means_another_extension_moves_there(rdb, settings):
    """Kept under the alias before the mirror knew it (the row's own name, so the row is left
    out): the pass moves it, and the row is sent after all."""
    xml = renamed_api_output("sofia xmlstatus profile internal reg", ALIASES)

    def setup():
        apply(rdb, settings, events(settings, 454, 458), now=T_REG)    # mirror empty: as given
        mirror_all(rdb)
    (full, r_full), (lean, r_lean) = both(rdb, settings, setup, snap(T_REG, reg=xml))
    assert lean == full
    assert set(full[0]["userinfo"]) == {"1011", "1012", "1013"}
    assert sorted(r_lean.moved) == sorted(r_full.moved) and len(r_lean.moved) == 2
    assert r_lean.unchanged == 0


@pytest.mark.parametrize("members,max_ops", [(1, 1), (2, 2), (1, 500)])
def test_passes_cut_into_many_runs_end_as_one(rdb, settings, monkeypatch, members, max_ops):
    def run():
        emptied(rdb)
        rdb.hset(keys.exten("127.0.0.1"), mapping={"1001": "{}", "1002": "{}", "1003": "{}"})
        apply_events(rdb, settings, NODE, by_seq(settings, 427, 432, 437), now=T_REG)
        marked(rdb, settings)
        result = apply_snapshot(rdb, settings, FS1, snap(T_REG))
        return state(rdb), result.removed, result.unchanged

    whole = run()
    monkeypatch.setattr(snapshot, "PASS_MEMBERS", members)
    monkeypatch.setattr(ingest, "MAX_OPS_PER_CALL", max_ops)
    assert run() == whole
    assert whole[1] == 1 and whole[2] == 1      # the lost unregister; 1003 as it is


def test_rows_are_all_sent_after_the_multiple_registrations_setting_changed(rdb, settings):
    """Each row's op records the setting on its extension: a resync under another setting
    than the last one's must send them all."""
    apply_events(rdb, settings, NODE, by_seq(settings, 427), now=T_REG)
    assert live_bindings(rdb, settings, NODE) is None          # no resync recorded yet
    marked(rdb, settings)
    assert len(live_bindings(rdb, settings, NODE)) == 1
    rdb.hset(keys.node(NODE), "resync_multi", "1")
    assert live_bindings(rdb, settings, NODE) is None


def test_the_fast_reader_of_freeswitch_xml_agrees_with_the_xml_parser():
    import xml.etree.ElementTree as ET

    def by_parser(text):
        return [{n: (r.findtext(n) or "").strip() for n in snapshot.REG_FIELDS}
                for r in ET.fromstring(text.strip()).iter("registration")]

    assert snapshot._fast_rows(XML.strip()) == by_parser(XML)
    odd = XML.replace("<agent>SIPp-lab/3.7.7</agent>", "<agent>a &amp; b &#233;&#x41;</agent>")
    assert snapshot._fast_rows(odd.strip()) == by_parser(odd)
    assert by_parser(odd)[0]["agent"] == "a & b \u00e9A"
    # what FreeSWITCH does not write goes to the parser, which reads or refuses it
    for other in (XML.replace("<agent>", "<!-- x --><agent>"),
                  XML.replace("<registration>", '<registration id="1">', 1),
                  XML.replace("SIPp-lab/3.7.7", "<![CDATA[x]]>"),
                  XML.replace("</profile>", ""),
                  XML.replace("<agent>SIPp-lab", "<agent>&nbsp;SIPp-lab"),
                  XML.replace("<agent>SIPp-lab", "<agent>&#0;SIPp-lab"),
                  XML.replace("<agent>SIPp-lab", "<agent>&#9999999;SIPp-lab")):
        assert snapshot._fast_rows(other.strip()) is None
    assert snapshot.parse_xmlstatus_reg(XML.replace("<agent>", "<!-- x --><agent>")) == \
        snapshot.parse_xmlstatus_reg(XML)
    with pytest.raises(snapshot.SnapshotError):
        snapshot.parse_xmlstatus_reg(XML.replace("</profile>", ""))
    for refused in ("&nbsp;", "&#0;", "&#9999999;"):
        with pytest.raises(snapshot.SnapshotError):
            snapshot.parse_xmlstatus_reg(XML.replace("<agent>SIPp-lab", f"<agent>{refused}SIPp-lab"))


def test_a_member_in_an_older_shape_makes_the_pass_visit_the_whole_node():
    """Members written before today's shape led with three key names: only the pass over the
    whole node (which rewrites them) knows them."""
    live = {"127.0.0.1\t1001\tfs1\tinternal\ta@x": 1.0,
            "k1\tk2\tk3\t127.0.0.1\t1002\tfs1\tinternal\tb@x": 1.0}
    ops = snapshot._passes(live, "fs1\tinternal", {"fs1\tinternal\ta@x": "1001"}, "st")
    assert ops == [{"k": "rs", "st": "st", "np": {"fs1\tinternal": True},
                    "present": {"fs1\tinternal\ta@x": "1001"}}]
    del live["k1\tk2\tk3\t127.0.0.1\t1002\tfs1\tinternal\tb@x"]
    assert [op["m"] for op in snapshot._passes(live, "fs1\tinternal", {}, "st")] == [
        ["127.0.0.1\t1001\tfs1\tinternal\ta@x"]]
