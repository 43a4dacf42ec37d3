"""slim_event (the listener's hook) and the event -> op preparation."""
import json

import pytest

from app.state import keys
from app.state.events import slim_event
from app.state.prepare import Malformed, Preparer, clock_sample, prepare, stamp
from tests.support.replay import NODE, raw_events


def _seq(n):
    return next(dict(e) for e in raw_events() if e.get("Event-Sequence") == str(n))


def test_slim_drops_what_the_state_does_not_use(settings):
    names = {}
    for event in raw_events():
        slim = slim_event(dict(event), settings)
        key = (event["Event-Name"], event.get("Event-Subclass"))
        names.setdefault(key, slim is not None)
    kept = {k for k, v in names.items() if v}
    assert kept == {("CHANNEL_CREATE", None), ("CHANNEL_PROGRESS", None),
                    ("CHANNEL_PROGRESS_MEDIA", None), ("CHANNEL_ANSWER", None),
                    ("CHANNEL_BRIDGE", None), ("CHANNEL_UNBRIDGE", None),
                    ("CHANNEL_HANGUP", None), ("CHANNEL_HANGUP_COMPLETE", None),
                    ("CHANNEL_DESTROY", None), ("BACKGROUND_JOB", None), ("HEARTBEAT", None),
                    ("CUSTOM", "sofia::register"), ("CUSTOM", "sofia::unregister"),
                    ("CUSTOM", "sofia::expire")}
    # pre_register / register_attempt also fire for INVITEs: never counted as registrations
    assert names[("CUSTOM", "sofia::register_attempt")] is False
    assert names[("CHANNEL_STATE", None)] is False


def test_slim_channel_event_is_small_and_has_the_configured_fields(settings):
    event = _seq(508)            # CHANNEL_BRIDGE on the A leg, ~10 KB
    event["_received"] = 1795670528.2
    slim = slim_event(event, settings)
    assert len(json.dumps(slim)) < len(json.dumps(event)) / 4
    for field in settings.gui["call"]["fields"]:
        assert slim[field] == event[field]
    for header in ("Unique-ID", "Core-UUID", "Event-Sequence", "Event-Date-Timestamp",
                   "variable_user_name", "variable_domain_name", "Bridge-B-Unique-ID",
                   "_received"):
        assert slim[header] == event[header]
    assert "variable_switch_r_sdp" not in slim


def test_slim_registration_keeps_every_header(settings):
    event = _seq(427)
    assert slim_event(dict(event), settings) == event


def test_slim_keeps_extra_configured_variables(settings):
    import dataclasses

    s = dataclasses.replace(settings, state=dict(settings.state, channel_variables=["variable_sip_user_agent"]),
                            gui={"registration": settings.gui["registration"],
                                 "call": dict(settings.gui["call"], fields=["variable_sip_call_id"])})
    slim = slim_event(_seq(472), s)
    assert slim["variable_sip_user_agent"] == "SIPp-lab/3.7.7"
    assert slim["variable_sip_call_id"] == _seq(472)["variable_sip_call_id"]


def test_stamp_orders_by_time_then_sequence():
    assert stamp("1795670527126849", "488") < stamp("1795670527126849", "492")
    assert stamp("1795670527126849", "999999") < stamp("1795670527126850", "1")
    assert len(stamp(1, 2)) == 36
    for bad in (("", "1"), ("12a", "1"), ("1", "-3"), ("1" * 17, "1")):
        with pytest.raises(Malformed):
            stamp(*bad)


def test_owner_caller_leg_is_the_authenticated_user(settings):
    p = Preparer(settings, NODE)
    # the A leg carries variable_dialed_user=1002 once it bridges: direction decides
    op = p.ops(slim_event(_seq(508), settings))[0]
    assert op["o"] == {"d": "127.0.0.1", "x": "1001"}
    assert op["lb"] == "bridge" and op["term"] is False


def test_owner_callee_leg_is_the_dialed_user(settings):
    p = Preparer(settings, NODE)
    (op,) = p.ops(slim_event(_seq(487), settings))
    assert op["o"]["x"] == "1002" and op["lb"] == "callin"


def test_bridge_tells_the_b_leg(settings):
    ops = Preparer(settings, NODE).ops(slim_event(_seq(508), settings))
    assert [o["u"] for o in ops] == ["1f474b02-c679-4a1b-8803-115a722f4a65",
                                      "473d43ee-bcbe-4619-8938-cb517d079bb1"]
    peer = ops[1]
    assert "o" not in peer and peer["own"] is False and peer["lb"] == "bridge"
    assert peer["f"] == {"Other-Leg-Unique-ID": "1f474b02-c679-4a1b-8803-115a722f4a65"}


def test_trunk_leg_has_no_owner(settings):
    event = slim_event(_seq(472), settings)
    del event["variable_user_name"]
    (op,) = Preparer(settings, NODE).ops(event)
    assert "o" not in op and op["own"] is True


def test_registration_ops(settings):
    p = Preparer(settings, NODE)
    reg = p.ops(_seq(427))[0]
    assert reg["typ"] == "reg" and reg["o"]["x"] == "1003" and reg["bid"] == f"{NODE}\tinternal\t1-5531@127.0.0.1"
    assert reg["exp"] == str((1795670519 + 20 + 60) * 1_000_000)
    assert json.loads(reg["ev"]) == _seq(427)
    assert p.ops(_seq(442))[0]["typ"] == "unreg"
    expire = p.ops(_seq(724))[0]
    assert expire["typ"] == "exp" and expire["o"]["x"] == "1003"
    assert expire["bid"] == f"{NODE}\tinternal\t1-5531@127.0.0.1"


def test_background_job_op(settings):
    (op,) = Preparer(settings, NODE).ops(slim_event(_seq(798), settings))
    assert op["key"] == keys.job_result("6f2e5623-a609-426b-af08-7d6c2576a5b5")
    assert json.loads(op["v"]) == {
        "node": NODE, "job_uuid": "6f2e5623-a609-426b-af08-7d6c2576a5b5", "command": "originate",
        "arg": "user/1003 &eavesdrop(7b12b60d-bb3e-4b17-9ee8-bc18e8ff15de)",
        "body": "+OK 61bcd62c-707b-4b99-9e4b-d63c916b317a\n", "ts": "1795670605446859"}


@pytest.mark.parametrize("mutate", [
    lambda e: e.pop("Event-Sequence"),
    lambda e: e.update({"Event-Date-Timestamp": "yesterday"}),
    lambda e: e.update({"Unique-ID": "1f474b02\napi system"}),
    lambda e: e.pop("Core-UUID"),
])
def test_malformed_events_are_skipped_not_fatal(settings, mutate):
    good, bad = slim_event(_seq(472), settings), slim_event(_seq(487), settings)
    mutate(bad)
    ops, skipped = prepare(settings, NODE, [bad, "not an event", good])
    assert skipped == 2
    assert [o["u"] for o in ops] == [good["Unique-ID"]]


def test_malformed_registration(settings):
    event = _seq(427)
    event["from-user"] = "10 03"
    ops, skipped = prepare(settings, NODE, [event])
    assert ops == [] and skipped == 1


def test_clock_sample_is_the_freshest_event():
    events = [{"Event-Date-Timestamp": "2000000", "_received": 2.5},
              {"Event-Date-Timestamp": "3000000", "_received": 3.1},
              {"Event-Date-Timestamp": "x", "_received": 9.0}]
    assert clock_sample(events) == -100000
    assert clock_sample([{"Event-Date-Timestamp": "1"}]) is None


def test_slimmer_decode_of_the_body_is_slim_event_of_the_decoded_event(settings):
    import dataclasses

    from app.state.events import Slimmer

    extra = dataclasses.replace(settings, state=dict(settings.state, channel_variables=["variable_sip_user_agent"]),
                                gui={"registration": settings.gui["registration"],
                                     "call": dict(settings.gui["call"], fields=["variable_sip_call_id"])})
    for s in (settings, extra):
        slimmer = Slimmer(s)
        for event in raw_events():
            body = json.dumps(event, ensure_ascii=False).encode()
            assert slimmer.decode(body) == slim_event(dict(event), s), event["Event-Sequence"]
    for bad in (b"", b"[1]", b'{"Event-Name": null}', b'{"Unique-ID": "x"}', b'{"Event-Name": "CHANNEL_ANSWER"',
                b'{"Event-Name": "CHANNEL_ANSWER", "Channel-Name": "\xff"}', b'{"Event-Name": "X", "a": NaN}'):
        with pytest.raises(ValueError):
            Slimmer(settings).decode(bad)
