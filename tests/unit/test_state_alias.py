"""A phone that registers, calls and is called by its extension's number-alias.

Extensions 1011, 1012, 1013 with number-aliases 5011, 5012, 5013 are in the directory mirror
(written by the mirror's own script); the real capture is replayed with 1001/1002/1003
replaced by the aliases in every header (tests.eslpeer.aliases), so no event names an
extension. The state must show everything under the extensions, the `cti_exten@` field names.
"""
import pytest

from app.state import keys
from app.state.calls import calls_of, list_calls
from app.state import ingest
from app.state.resync import apply_snapshot
from tests.eslpeer.aliases import renamed_api_output
from tests.support.replay import DOMAIN, NODE, outputs, phase_us, until
from tests.support.alias_state import (ALIASES, aliased_capture, apply, events, mirror,
                                      mirror_all, registered)
from tests.support.snapshots import FS1, T_CALL, T_REG, snap

A1, B1 = "1f474b02-c679-4a1b-8803-115a722f4a65", "473d43ee-bcbe-4619-8938-cb517d079bb1"
CALL1 = (472, 487, 492, 494, 497, 502, 504, 508, 520, 521, 524, 533, 534, 530, 536)


def test_registered_by_its_alias_shows_under_the_extension(rdb, settings):
    mirror_all(rdb)
    apply(rdb, settings, events(settings, 454))          # 1-5542, from-user 5011 only
    out = outputs(rdb)
    assert set(out["userinfo"]) == {"1011"} and set(out["registrations"]) == {"1011"}
    reg = out["userinfo"]["1011"]["register"]
    assert reg["registered-as"] == "5011" and reg["call-id"] == "1-5542@127.0.0.1"
    assert out["userinfo"]["1011"]["bindings"][0]["registered-as"] == "5011"
    event = out["registrations"]["1011"]
    # the event as FreeSWITCH sent it, plus the extension it counted for
    assert event["from-user"] == event["username"] == event["user_name"] == "5011"
    assert event["fscti-extension"] == "1011"
    assert set(rdb.hkeys(keys.reg_state(DOMAIN))) == {
        "1011", "1011\tui", f"1011\t{NODE}\tinternal\t1-5542@127.0.0.1\tev"}


def test_a_name_the_mirror_does_not_know_is_kept_as_given(rdb, settings):
    apply(rdb, settings, events(settings, 454))
    out = outputs(rdb)
    assert set(out["userinfo"]) == {"5011"}
    assert out["userinfo"]["5011"]["register"]["registered-as"] == "5011"
    assert "fscti-extension" not in out["registrations"]["5011"]


def test_unregister_and_expire_by_the_alias_reach_the_extension(rdb, settings):
    mirror_all(rdb)
    apply(rdb, settings, events(settings, 427, 432, 437), now=T_REG)   # 5013; 5011 on 1-5533
    assert registered(rdb) == {"1013": "1-5531@127.0.0.1", "1011": "1-5533@127.0.0.1"}
    apply(rdb, settings, events(settings, 442), now=T_REG)    # sofia::unregister from-user 5011
    assert registered(rdb) == {"1013": "1-5531@127.0.0.1"}
    # sofia::expire user 5013, just before the stored expiry would have removed it anyway
    apply(rdb, settings, events(settings, 724), now=1795670598_000000)
    out = outputs(rdb)
    assert out["userinfo"] == {} and out["registrations"] == {}


def test_calls_from_and_to_alias_phones_are_the_extensions_calls(rdb, settings):
    mirror_all(rdb)
    apply(rdb, settings, events(settings, 454, 458, *CALL1[:8]))      # up to the bridge
    (a,) = calls_of(DOMAIN, "1011", rdb)
    (b,) = calls_of(DOMAIN, "1012", rdb)
    assert (a["uuid"], b["uuid"]) == (A1, B1)
    out = outputs(rdb)
    assert set(out["calls"]) == {"1011", "1012"} and set(out["userinfo"]) == {"1011", "1012"}
    assert out["calls"]["1011"]["username"] == "1011" and out["calls"]["1012"]["notify"] == "bridge"
    assert out["userinfo"]["1011"]["calls"][0]["Call-Number"] == "5012"   # as dialed
    apply(rdb, settings, events(settings, *CALL1[8:]))
    assert list_calls(client=rdb) == []
    out = outputs(rdb)
    assert {x: v["notify"] for x, v in out["calls"].items()} == {"1011": "hangup", "1012": "hangup"}


def test_the_id_and_the_alias_are_two_users_of_the_profile(rdb, settings):
    # multiple-registrations off: FreeSWITCH keeps one row per user it was registered as
    mirror_all(rdb)
    desk = events(settings, 454, names={"1001": "1011"})       # registered as the id
    soft = events(settings, 458, names={"1002": "5011"})       # registered as the alias, later
    apply(rdb, settings, desk + soft)
    info = outputs(rdb)["userinfo"]["1011"]
    assert [(b["call-id"], b["registered-as"]) for b in info["bindings"]] == [
        ("1-5544@127.0.0.1", "5011"), ("1-5542@127.0.0.1", "1011")]
    # the alias's unregister (unknown Call-ID) removes the alias's rows only
    apply(rdb, settings, events(settings, 1078, names={"1002": "5011"}))
    assert [b["call-id"] for b in outputs(rdb)["userinfo"]["1011"]["bindings"]] == [
        "1-5542@127.0.0.1"]


def test_letter_case_of_the_name_resolves_like_the_directory(rdb, settings):
    mirror(rdb, ("Alice", ""), ("bob", ""))
    apply(rdb, settings, events(settings, 454, names={"1001": "alice"})
          + events(settings, 458, names={"1002": "BOB"}))
    out = outputs(rdb)
    assert set(out["userinfo"]) == {"Alice", "bob"}
    assert out["userinfo"]["bob"]["register"]["registered-as"] == "BOB"


@pytest.fixture(params=[None, 1], ids=["one-run", "a-run-per-op"])
def max_ops(request, monkeypatch):
    """The snapshot in one script run, or split into a run per op (as a node with more rows
    than ingest.MAX_OPS_PER_CALL is): what the first run's `rs` op kept must reach the rows."""
    if request.param:
        monkeypatch.setattr(ingest, "MAX_OPS_PER_CALL", request.param)


def test_an_alias_changed_later_leaves_nothing_under_either_name(rdb, settings, max_ops):
    mirror_all(rdb)
    apply(rdb, settings, events(settings, 454))
    mirror(rdb, ("1011", "6011"))                              # 5011 is no one's now
    apply(rdb, settings, events(settings, 458))                # other traffic
    out = outputs(rdb)
    assert set(out["userinfo"]) == {"1011", "1012"}
    assert out["userinfo"]["1011"]["register"]["registered-as"] == "5011"
    # FreeSWITCH still has the row as 5011: a resync keeps it where it is
    xml = renamed_api_output("sofia xmlstatus profile internal reg", ALIASES)
    apply_snapshot(rdb, settings, FS1, snap(T_REG, reg=xml))
    out = outputs(rdb)
    assert set(out["userinfo"]) == {"1011", "1012", "1013"}
    assert registered(rdb)["1011"] == "1-5542@127.0.0.1"
    assert [b["call-id"] for b in out["userinfo"]["1011"]["bindings"]] == ["1-5542@127.0.0.1"]


def test_resync_moves_a_binding_kept_under_the_alias_before_the_mirror_knew_it(rdb, settings):
    apply(rdb, settings, events(settings, 454, 458), now=T_REG)       # mirror empty: as given
    assert set(registered(rdb)) == {"5011", "5012"}
    mirror_all(rdb)
    xml = renamed_api_output("sofia xmlstatus profile internal reg", ALIASES)
    result = apply_snapshot(rdb, settings, FS1, snap(T_REG, reg=xml))
    assert result.removed == 2
    out = outputs(rdb)
    assert set(out["userinfo"]) == {"1011", "1012", "1013"} == set(out["registrations"])
    assert {x: v["register"]["registered-as"] for x, v in out["userinfo"].items()} == {
        "1011": "5011", "1012": "5012", "1013": "5013"}
    assert registered(rdb) == {"1011": "1-5542@127.0.0.1", "1012": "1-5544@127.0.0.1",
                               "1013": "1-5531@127.0.0.1"}
    # in sync now: the same snapshot again changes nothing
    before = outputs(rdb)
    assert apply_snapshot(rdb, settings, FS1, snap(T_REG, reg=xml)).removed == 0
    assert outputs(rdb) == before


def test_resync_in_sync_with_alias_registrations_changes_nothing(rdb, settings):
    mirror_all(rdb)
    apply(rdb, settings, until(aliased_capture(settings), phase_us("register_1001_1002:end")),
          now=T_REG)
    before = outputs(rdb)
    xml = renamed_api_output("sofia xmlstatus profile internal reg", ALIASES)
    assert apply_snapshot(rdb, settings, FS1, snap(T_REG, reg=xml)).removed == 0
    assert outputs(rdb) == before and set(before["userinfo"]) == {"1011", "1012", "1013"}


def test_snapshot_adopts_calls_of_alias_users(rdb, settings):
    mirror_all(rdb)
    apply(rdb, settings, events(settings, 454, 458), now=T_CALL)
    names = {"1001": "5011", "1002": "5012"}
    apply_snapshot(rdb, settings, FS1, snap(
        T_CALL, reg=renamed_api_output("sofia xmlstatus profile internal reg", ALIASES),
        channels=renamed_api_output("show channels as json", names, "call up"),
        calls=renamed_api_output("show calls as json", names, "call up")))
    assert [c["uuid"] for c in calls_of(DOMAIN, "1011", rdb)] == [A1]
    assert [c["uuid"] for c in calls_of(DOMAIN, "1012", rdb)] == [B1]
    assert set(outputs(rdb)["calls"]) == {"1011", "1012"}
