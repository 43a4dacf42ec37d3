"""Phones that use their extensions' number-aliases, end to end.

Extensions 1011 (number-alias 5011) and 1012 (5012) are created through the API. The directory
answers both names with the same user. The wire-level peer then plays FreeSWITCH for phones
registered as 5011/5012 (the captured traffic with every user header renamed: the events name
only the aliases), through the real listener and a real Celery worker: register, a call from
one to the other, an unregister, and a resync whose `sofia xmlstatus` lists the aliases. The
live state must show all of it under 1011/1012 (and 1013, created only after its phone
registered as 5013, once a resync has run), and never under an alias.
"""
import re
import time

import pytest
from lxml import etree

from app.directory.form import encode
from app.state import keys
from app.state.calls import list_calls
from tests.eslpeer import EslPeer, phase_events
from tests.eslpeer.aliases import renamed_api_output
from tests.eslpeer.procs import state_pipeline, wait_for
from tests.eslpeer.broker import purge_queues
from tests.support.factories import mk_domain, mk_ext
from tests.support.replay import DOMAIN, NODE, outputs, phase_us

pytestmark = pytest.mark.integration

START_US = 1795670519_000000        # FreeSWITCH's clock at the connect resync
NAMES = {"1001": "5011", "1002": "5012", "1003": "5013"}
IDLE_XML = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n'
            '  </registrations>\n</profile>\n')


def xmlstatus_of(*users):
    """The captured `sofia xmlstatus profile internal reg`, renamed, with only these users' rows."""
    text = renamed_api_output("sofia xmlstatus profile internal reg", NAMES)
    rows = re.findall(r"    <registration>.*?</registration>\n", text, flags=re.S)
    keep = [r for r in rows if any(f"<user>{u}@" in r for u in users)]
    head, _, _ = text.partition(rows[0])
    return head + "".join(keep) + text.rpartition(rows[-1])[2]


def directory_user(client, user, key="id", action="sip_auth"):
    pairs = [("hostname", "vm"), ("section", "directory"), ("tag_name", "domain"),
             ("key_name", "name"), ("key_value", DOMAIN), ("Event-Name", "REQUEST_PARAMS"),
             ("action", action), ("key", key), ("user", user), ("domain", DOMAIN)]
    resp = client.post("/directory", data=encode(pairs),
                       content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 200
    return [(u.get("id"), u.get("number-alias"))
            for u in etree.fromstring(resp.data).findall("section/domain/users/user")]


def names_in(out) -> set:
    return {x for part in out.values() for x in part}


def test_alias_phones_show_under_their_extensions(app, client, admin, rdb, settings, tmp_path):
    
    mk_domain(client, admin, name=DOMAIN)
    mk_ext(client, admin, "1011", domain=DOMAIN, param={"password": "1234"},
           attribute={"number-alias": "5011"})
    mk_ext(client, admin, "1012", domain=DOMAIN, param={"password": "1234"},
           attribute={"number-alias": "5012"})
    # what FreeSWITCH gets for either name: the same user (it registers either way)
    for action in ("sip_auth", "user_call"):
        assert directory_user(client, "1011", action=action) == [("1011", "5011")]
        assert directory_user(client, "5011", action=action) == [("1011", "5011")]
    assert directory_user(client, "5011", key="number-alias") == [("1011", "5011")]

    purge_queues(settings.celery_broker_url, "events", "celery")
    t0 = time.time()
    xml = {"now": IDLE_XML}
    peer = EslPeer(api={
        # FreeSWITCH's clock runs on from the capture's time
        "strmicroepoch": lambda args: str(START_US + int((time.time() - t0) * 1_000_000)),
        "sofia xmlstatus profile internal reg": lambda args: xml["now"],
        "show channels as json": '{"row_count": 0}\n', "show calls as json": '{"row_count": 0}\n'})
    with peer:
        with state_pipeline(settings, tmp_path, NODE, peer, rdb) as wlog:
            # register: 5013 first (its extension does not exist yet), then 5011 and 5012
            peer.replay(phase="reg_expire_candidate", rename=NAMES)
            peer.replay(phase="register_1001_1002", rename=NAMES)

            def registered():
                return {x: v["register"]["registered-as"] for x, v in outputs(rdb)["userinfo"].items()
                        if "register" in v}
            wait_for(lambda: registered() == {"1011": "5011", "1012": "5012", "5013": "5013"}, 30,
                     what="the alias registrations", log=wlog)
            out = outputs(rdb)
            assert set(out["registrations"]) == {"1011", "1012", "5013"}
            assert out["registrations"]["1011"]["from-user"] == "5011"
            assert out["registrations"]["1011"]["fscti-extension"] == "1011"

            # a call from 5011 to 5012 (user/5012): up, then hung up
            call = phase_events("call1_caller_hangup")
            bridged = phase_us("call1_caller_hangup:bridged")
            peer.replay(events=[w for w in call if w.timestamp_us <= bridged], rename=NAMES)
            wait_for(lambda: sorted(c["extension"] for c in list_calls(client=rdb)) == ["1011", "1012"],
                     30, what="the call under 1011 and 1012", log=wlog)
            assert [c["Call-Number"] for c in outputs(rdb)["userinfo"]["1011"]["calls"]] == ["5012"]
            peer.replay(events=[w for w in call if w.timestamp_us > bridged], rename=NAMES)
            wait_for(lambda: {x: v["notify"] for x, v in outputs(rdb)["calls"].items()}
                     == {"1011": "hangup", "1012": "hangup"}, 30, what="the hang-up", log=wlog)
            assert list_calls(client=rdb) == []

            # 5012 unregisters (a new Call-ID, as in the capture)
            peer.replay(phase="unreg_1002_new_callid", rename=NAMES)
            wait_for(lambda: set(registered()) == {"1011", "5013"}, 30, what="the unregister",
                     log=wlog)
            assert "1012" not in outputs(rdb)["registrations"]

            # 1013 appears in the directory; FreeSWITCH lists 5011 and 5013 registered
            mk_ext(client, admin, "1013", domain=DOMAIN, param={"password": "1234"},
                   attribute={"number-alias": "5013"})
            xml["now"] = xmlstatus_of("5011", "5013")
            before = rdb.hget(keys.node(NODE), "resync_at")
            for conn in peer.subscribers():          # the listener reconnects and resyncs
                conn.close()
            wait_for(lambda: rdb.hget(keys.node(NODE), "resync_at") != before, 30,
                     what="the reconnect resync", log=wlog)
            wait_for(lambda: registered() == {"1011": "5011", "1013": "5013"}, 30,
                     what="5013 under 1013 after the resync", log=wlog)
    final = outputs(rdb)
    assert not any(x.startswith("5") for x in names_in(final)), final
    assert set(final["registrations"]) == {"1011", "1013"}
