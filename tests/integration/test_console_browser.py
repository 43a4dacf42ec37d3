"""The console in a real headless chromium, against the real processes.

The wire-level peer replays the capture into the real listener and events worker; the
Procfile's `console` process (gunicorn, threads) serves the page and the stream; the actions
run on the same worker. Sign in, see 1001 register, see call 5 on 1001 and 1002 with a
duration that ticks, hang it up from its row (uuid_kill on the wire, the call goes away); a
viewer has no buttons and the server refuses its forged POST.
"""
from __future__ import annotations

import re
import threading

import pytest
import redis as redis_lib
import requests

from app.state import keys
from tests.support.actions import A5, B5, CALL5_UP_US
from tests.support.factories import mk_domain, mk_ext
from tests.eslpeer import EslPeer, phase_events, phases
from tests.eslpeer.procs import PIPELINE_FAST, listener_cmd, process_env, running, wait_for, \
    worker_cmd
from tests.support.browser import chromium, click, wait_until
from tests.support.web import procfile_web

pytestmark = pytest.mark.integration

DOMAIN = "127.0.0.1"
REG_START_US = int(phases()["register_1001_1002"][0] * 1_000_000)
IDLE = {"strmicroepoch": str(REG_START_US - 1_000_000),
        "show channels as json": '{"row_count": 0}\n', "show calls as json": '{"row_count": 0}\n',
        "sofia xmlstatus profile internal reg": (
            '<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n'
            '  </registrations>\n</profile>\n')}


def call5_until_up():
    return [w for w in phase_events("call5_eavesdrop") if w.timestamp_us <= CALL5_UP_US
            and w.event.get("Unique-ID") in (A5, B5)]


def call5_hangup():
    """What FreeSWITCH sends once both legs of call 5 are killed (the captured hang-up)."""
    return [w for w in phase_events("call5_eavesdrop") if w.timestamp_us > CALL5_UP_US
            and w.event.get("Unique-ID") in (A5, B5)
            and w.name in ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY",
                           "CHANNEL_UNBRIDGE", "CHANNEL_STATE", "CHANNEL_CALLSTATE")]


@pytest.fixture
def queues(settings):
    broker = redis_lib.Redis.from_url(settings.celery_broker_url)
    broker.delete("actions", "events", "celery")
    yield
    broker.delete("actions", "events", "celery")


def sign_in(driver, base, token):
    driver.get(base + "/console/login")
    driver.find_element("id", "token").send_keys(token)
    driver.find_element("id", "signin").click()
    wait_until(driver, lambda d: d.find_element("id", "conn").text == "live", what="the stream")


def row(driver, ext):
    found = driver.find_elements("css selector", f'.row[data-x="{ext}"]')
    return found[0] if found else None


def row_text(driver, ext) -> str:
    return driver.execute_script(
        "var r = document.querySelector('.row[data-x=\"' + arguments[0] + '\"]');"
        "return r ? r.innerText : '';", ext)


def duration(driver, ext) -> int:
    return seconds(driver.execute_script(
        "var r = document.querySelector('.row[data-x=\"' + arguments[0] + '\"] .dur');"
        "return r ? r.textContent : '';", ext))


def newest_action(driver) -> str:
    return driver.execute_script(
        "var a = document.querySelector('#actions li'); return a ? a.innerText : '';")


def seconds(text: str) -> int:
    m = re.search(r"(\d+):(\d\d)\b", text)
    return int(m.group(1)) * 60 + int(m.group(2)) if m else -1


def test_console_shows_registration_and_call_and_hangs_up(app, app_ctx, client, tokens, rdb,
                                                          settings, tmp_path, queues,
                                                          monkeypatch):
    from app.config import FreeSwitchNode

    admin = tokens["admin"]
    mk_domain(client, admin, DOMAIN)
    for ext in ("1001", "1002", "1003"):
        mk_ext(client, admin, ext, DOMAIN, param={"password": "1234"},
               variable={"effective_caller_id_name": f"Agent {ext}"})
    plain = {role: h["Authorization"].split(" ", 1)[1] for role, h in tokens.items()}

    with EslPeer(api=IDLE) as fs1:
        def killed(args):
            # FreeSWITCH hangs both legs up: the captured hang-up of call 5, a moment later
            if args.split(" ")[0] == B5:
                threading.Timer(0.1, lambda: fs1.replay(events=call5_hangup())).start()
            target = args.split(" ")[0]
            fs1.channels.discard(target)
            return "+OK\n"
        fs1.api.on("uuid_kill", killed)
        originates = []

        def originate(args):    # the first rings the supervisor; the second finds no phone
            originates.append(args)
            if len(originates) > 1:
                return "-ERR USER_NOT_REGISTERED\n"
            leg = re.search(r"origination_uuid=([0-9a-f-]{36})", args).group(1)
            return f"+OK {leg}\n"
        fs1.api.on("originate", originate)
        nodes = [("fs1", fs1)]
        monkeypatch.setattr(settings, "freeswitch", [FreeSwitchNode("fs1", fs1.host, fs1.port,
                                                                    fs1.password)])
        env = process_env(settings, tmp_path, nodes=nodes, extra=PIPELINE_FAST)
        wlog, llog = tmp_path / "worker.log", tmp_path / "listener.log"
        with running(worker_cmd(queues="actions,events", concurrency=2), env, wlog), \
                running(listener_cmd(), env, llog), \
                procfile_web(settings, tmp_path, PIPELINE_FAST, process="console",
                             nodes=nodes) as web, \
                chromium() as driver:
            base = f"http://127.0.0.1:{web.port}"
            fs1.wait_subscribed(timeout=20)
            wait_for(lambda: rdb.hget(keys.node("fs1"), "resync_reason"), 30,
                     what="the connect resync", log=llog)

            # the token is posted, never in a URL; the cookie is HttpOnly and SameSite=Strict
            sign_in(driver, base, plain["supervisor"])
            assert "token" not in driver.current_url
            cookie = driver.get_cookie("fscti_console")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            wait_until(driver, lambda d: "unregistered" in row_text(d, "1001"),
                       what="1001 unregistered")
            assert "Agent 1001" in row_text(driver, "1001")

            fs1.replay(phase="register_1001_1002")
            wait_until(driver, lambda d: "registered" in row_text(d, "1001")
                       and "unregistered" not in row_text(d, "1001"), what="1001 registered")
            assert "SIPp" in row_text(driver, "1001")           # its user agent
            assert driver.find_element("id", "n-registered").text == "2"

            fs1.replay(events=call5_until_up())
            wait_until(driver, lambda d: "on a call" in row_text(d, "1001")
                       and "on a call" in row_text(d, "1002"), what="call 5 on both")
            assert re.search(r"\b1002\b.*talking", row_text(driver, "1001"), re.S)
            assert re.search(r"\b1001\b.*talking", row_text(driver, "1002"), re.S)
            first = duration(driver, "1001")
            assert first >= 0
            wait_until(driver, lambda d: duration(d, "1001") > first, timeout=5,
                       what="the duration ticks")

            labels = driver.execute_script(
                "return Array.from(document.querySelectorAll('.row[data-x=\"1001\"] button.act'))"
                ".map(b => b.textContent);")
            assert sorted(labels) == ["Barge", "Hang up", "Listen", "Whisper", "Whisper far"]

            # listen from my phone 1003: confirmed, then queued → sent → succeeded
            driver.find_element("id", "myphone").send_keys("1003")
            click(driver, '.row[data-x="1001"] button.act', "Listen")
            assert "ringing your phone 1003" in driver.find_element("id", "confirm").text
            driver.find_element("id", "confirm-yes").click()
            wait_until(driver, lambda d: newest_action(d).startswith("listen 1001 from 1003")
                       and "succeeded" in newest_action(d), what="the listen succeeded")
            assert "+OK" in newest_action(driver)            # FreeSWITCH's reply
            assert originates[0].endswith(f"user/1003@127.0.0.1 &eavesdrop({A5})")
            # who supervises whom, and the live mode switch from there
            wait_until(driver, lambda d: "1003 → 1001 listen" in d.find_element("id", "sups").text,
                       what="the supervision listed")
            click(driver, "#sups button.act", "Whisper")
            driver.find_element("id", "confirm-yes").click()
            wait_until(driver, lambda d: newest_action(d).startswith("mode whisper_extension")
                       and "succeeded" in newest_action(d), what="the mode switch succeeded")
            assert fs1.wait_for(lambda: any(p.headers.get("eavesdrop-command") == "2"
                                            for p in fs1.sendevents))
            # a supervision FreeSWITCH cannot place fails with its reason
            click(driver, '.row[data-x="1001"] button.act', "Barge")
            driver.find_element("id", "confirm-yes").click()
            wait_until(driver, lambda d: "failed" in newest_action(d), what="the barge failed")
            assert "USER_NOT_REGISTERED" in newest_action(driver)
            click(driver, '.row[data-x="1001"] button.act', "Hang up")
            assert "Hang up the call of 1001?" in driver.find_element("id", "confirm").text
            driver.find_element("id", "confirm-yes").click()
            wait_until(driver, lambda d: newest_action(d).startswith("hang up 1001")
                       and "succeeded" in newest_action(d), what="the hang-up succeeded")
            assert fs1.wait_for(lambda: [c for c in fs1.commands() if "uuid_kill" in c] == [
                f"api uuid_kill {A5} MANAGER_REQUEST", f"api uuid_kill {B5} MANAGER_REQUEST"])
            wait_until(driver, lambda d: "on a call" not in row_text(d, "1001")
                       and "talking" not in row_text(d, "1001")
                       and "talking" not in row_text(d, "1002"), what="the call gone")
            assert "registered" in row_text(driver, "1001")

            # a viewer: no buttons, and the server refuses a forged POST even with its CSRF
            driver.delete_all_cookies()
            sign_in(driver, base, plain["viewer"])
            wait_until(driver, lambda d: "registered" in row_text(d, "1001"), what="viewer rows")
            assert driver.find_elements("css selector", "button.act") == []
            assert driver.find_elements("id", "myphone") == []
            status = driver.execute_async_script("""
                const done = arguments[arguments.length - 1];
                const cfg = JSON.parse(document.getElementById('console-config').textContent);
                fetch('/console/api/calls/%s/hangup', {method: 'POST', credentials: 'same-origin',
                      headers: {'Content-Type': 'application/json', 'X-CSRF-Token': cfg.csrf},
                      body: '{}'}).then(r => done(r.status));""" % A5)
            assert status == 403
    assert [c for c in fs1.commands() if "uuid_kill" in c] == [
        f"api uuid_kill {A5} MANAGER_REQUEST", f"api uuid_kill {B5} MANAGER_REQUEST"]


def test_sign_in_refuses_bad_tokens_and_csrf(app, app_ctx, client, tokens, settings, tmp_path):
    """Without a browser: the form's CSRF, a bad token, a POST without the session's CSRF."""
    with procfile_web(settings, tmp_path, process="console") as web:
        base = f"http://127.0.0.1:{web.port}"
        s = requests.Session()
        page = s.get(base + "/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        assert s.post(base + "/console/login", data={"token": "nope", "csrf": csrf},
                      allow_redirects=False).status_code == 401
        assert s.post(base + "/console/login", data={"token": "x", "csrf": "forged"},
                      allow_redirects=False).status_code == 403
        page = s.get(base + "/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        token = tokens["supervisor"]["Authorization"].split(" ", 1)[1]
        r = s.post(base + "/console/login", data={"token": token, "csrf": csrf},
                   allow_redirects=False)
        assert r.status_code == 303
        cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert "Secure" not in r.headers["Set-Cookie"]          # plain http here
        # signed in, but no CSRF header: refused before anything is checked or queued
        r = s.post(base + f"/console/api/calls/{A5}/hangup", json={})
        assert r.status_code == 403 and "CSRF" in r.json()["message"]
        assert s.get(base + "/console", allow_redirects=False).status_code == 200
        csrf = re.search(r'"csrf":\s*"([^"]+)"', s.get(base + "/console").text).group(1)
        assert s.post(base + "/console/logout", data={"csrf": csrf},
                      allow_redirects=False).status_code == 303
        assert s.get(base + "/console", allow_redirects=False).status_code == 303
