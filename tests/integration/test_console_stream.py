"""The console's change feed (state script → Redis pub/sub) and its event stream (the
Procfile's `console` process): snapshot, coalesced updates, resuming by Last-Event-ID."""
from __future__ import annotations

import dataclasses
import json
import re
import time

import pytest
import redis as redis_lib
import requests

from app.state import keys
from app.state.ingest import apply_events
from tests.support.actions import CALL5_UP_US
from tests.support.factories import mk_domain, mk_ext
from tests.support.replay import slim_events, until
from tests.support.web import procfile_web

DOMAIN = "127.0.0.1"


def test_each_batch_publishes_the_changed_extensions_of_each_domain(app, rdb, settings):
    sub = redis_lib.Redis.from_url(settings.redis_url, decode_responses=True).pubsub(
        ignore_subscribe_messages=True)
    sub.psubscribe(keys.console_prefix() + "*")
    events = until(slim_events(settings), CALL5_UP_US)
    apply_events(rdb, settings, "fs1", events, now=CALL5_UP_US)
    deadline = time.monotonic() + 5
    while (msg := sub.get_message(timeout=0.5)) is None and time.monotonic() < deadline:
        pass
    extra = sub.get_message(timeout=0.2)
    sub.close()
    assert extra is None                                        # one message per domain
    assert msg["channel"] == keys.console_changes(DOMAIN)
    seq, *exts = msg["data"].split("\t")
    assert seq == rdb.get(keys.console_seq(DOMAIN)) == "1"        # one message for the batch
    assert set(rdb.hkeys(keys.userinfo(DOMAIN))) <= set(exts) <= {"1001", "1002", "1003"}
    assert len(exts) == len(set(exts))


def test_the_feed_can_be_turned_off(app, rdb, settings):
    off = dataclasses.replace(settings, console=dict(settings.console, feed=False))
    apply_events(rdb, off, "fs1", until(slim_events(settings), CALL5_UP_US), now=CALL5_UP_US)
    assert rdb.hkeys(keys.userinfo(DOMAIN))           # the state itself is written
    assert rdb.get(keys.console_seq(DOMAIN)) is None


def sse_lines(resp):
    """The lines of a streaming response, as they come (one iterator per response)."""
    return resp.iter_lines(chunk_size=1, decode_unicode=True)


def read_events(lines, want: int, timeout: float = 15.0) -> list[tuple[str, str | None, dict]]:
    """The next `want` server-sent events from `lines`: (event, id, data)."""
    out, event, ident, data = [], None, None, []
    deadline = time.monotonic() + timeout
    for line in lines:
        if time.monotonic() > deadline:
            break
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("id: "):
            ident = line[4:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and event:
            out.append((event, ident, json.loads("\n".join(data) or "{}")))
            event, ident, data = None, None, []
            if len(out) >= want:
                break
    return out


def signed_in(base: str, token: str) -> requests.Session:
    s = requests.Session()
    csrf = re.search(r'name="csrf" value="([^"]+)"', s.get(base + "/console/login").text).group(1)
    assert s.post(base + "/console/login", data={"token": token, "csrf": csrf},
                  allow_redirects=False).status_code == 303
    return s


@pytest.mark.integration
def test_stream_snapshot_updates_and_resume(app, app_ctx, client, tokens, rdb, settings,
                                            tmp_path):
    mk_domain(client, tokens["admin"], DOMAIN)
    for ext in ("1001", "1002", "1003"):
        mk_ext(client, tokens["admin"], ext, DOMAIN, param={"password": "secret-" + ext})
    viewer = tokens["viewer"]["Authorization"].split(" ", 1)[1]
    with procfile_web(settings, tmp_path, process="console") as web:
        base = f"http://127.0.0.1:{web.port}"
        s = signed_in(base, viewer)
        with s.get(base + f"/console/stream?domain={DOMAIN}", stream=True, timeout=20) as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            lines = sse_lines(resp)
            (hello, _, _), (name, ident, snap) = read_events(lines, 2)
            assert (hello, name, ident) == ("hello", "snapshot", "0")
            assert [r["x"] for r in snap["rows"]] == ["1001", "1002", "1003"]
            assert all(r["reg"] is None and r["calls"] == [] for r in snap["rows"])
            assert "secret" not in json.dumps(snap)         # no directory secret leaves
            # the hub is subscribed once the stream is: a batch of events becomes one update
            time.sleep(0.5)
            apply_events(rdb, settings, "fs1", until(slim_events(settings), CALL5_UP_US),
                         now=CALL5_UP_US)
            update = next(e for e in read_events(lines, 3) if e[0] == "update")
            seq = rdb.get(keys.console_seq(DOMAIN))
            assert update[1] == seq
            by = {r["x"]: r for r in update[2]["rows"]}
            assert by["1001"]["reg"]["ua"] and by["1001"]["calls"][0]["num"] == "1002"
            assert by["1002"]["calls"][0]["dir"] == "in"
        # reconnecting with the last id seen: nothing missed, no snapshot
        with s.get(base + f"/console/stream?domain={DOMAIN}", stream=True, timeout=20,
                   headers={"Last-Event-ID": seq}) as resp:
            assert read_events(sse_lines(resp), 1)[0][0] == "resumed"
        # with an older one: a fresh snapshot, with the calls
        with s.get(base + f"/console/stream?domain={DOMAIN}", stream=True, timeout=20,
                   headers={"Last-Event-ID": "0"}) as resp:
            name, ident, snap = read_events(sse_lines(resp), 2)[1]
            assert (name, ident) == ("snapshot", seq)
            assert {r["x"]: len(r["calls"]) for r in snap["rows"]}["1001"] == 1
        # not signed in: 401; a bad domain: 400 with the field
        anon = requests.get(base + f"/console/stream?domain={DOMAIN}", timeout=10)
        assert anon.status_code == 401
        bad = s.get(base + "/console/stream?domain=a%20b", timeout=10)
        assert bad.status_code == 400 and "domain" in bad.json()["details"]


@pytest.mark.integration
def test_the_web_process_does_not_hold_streams(app, app_ctx, tokens, settings, tmp_path):
    viewer = tokens["viewer"]["Authorization"].split(" ", 1)[1]
    with procfile_web(settings, tmp_path) as web:        # sync workers
        base = f"http://127.0.0.1:{web.port}"
        s = signed_in(base, viewer)
        r = s.get(base + f"/console/stream?domain={DOMAIN}", timeout=10)
        assert r.status_code == 503 and "console" in r.json()["message"]
