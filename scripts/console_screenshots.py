"""Take the screenshots of docs/console.md: the real console process, a real chromium.

    TEST_REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python scripts/console_screenshots.py

A demo domain (`demo.example`, 60 extensions, a few disabled) is created through the API
in a scratch SQLite database; registrations and calls are fed through the state's real
ingest (sofia::register events shaped like the captured one, synthetic calls from the
captured call 1, stopped while ringing or once answered). The Redis database of
TEST_REDIS_URL is EMPTIED first. The PNGs go to docs/console/.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOMAIN = "demo.example"
OUT = ROOT / "docs" / "console"


def register_events(exts: list[str]) -> list[dict]:
    from tests.eslpeer import wire_events

    template = next(w.event for w in wire_events()
                    if w.event.get("Event-Subclass") == "sofia::register")
    out = []
    for i, ext in enumerate(exts):
        e = dict(template)
        for key in ("from-user", "to-user", "username", "user_name", "sip_auth_username",
                    "effective_caller_id_number"):
            if key in e:
                e[key] = ext
        now = int(time.time() * 1_000_000)
        e.update({"from-host": DOMAIN, "realm": DOMAIN, "domain_name": DOMAIN,
                  "call-id": f"demo-{ext}@{DOMAIN}", "expires": str(600 + 37 * i % 3000),
                  "contact": f'"" <sip:{ext}@192.0.2.{10 + i}:5060>',
                  "network-ip": f"192.0.2.{10 + i}", "network-port": "5060",
                  "user-agent": ["Yealink SIP-T46U 108.86", "Poly VVX 450 6.4",
                                 "Grandstream GXP2170 1.0.11"][i % 3],
                  "Event-Date-Timestamp": str(now)})
        out.append(e)
    return out


def call_events(gen, a: str, b: str, answered: bool) -> list[dict]:
    events = gen.call_events(a, b)
    for e in events:
        for k, v in list(e.items()):
            if isinstance(v, str) and "127.0.0.1" in v:
                e[k] = v.replace("127.0.0.1", DOMAIN)
    cut = next(i for i, e in enumerate(events)
               if e.get("Event-Name") == ("CHANNEL_BRIDGE" if answered else "CHANNEL_ANSWER"))
    return events[:cut + 1] if answered else events[:cut]


def main() -> int:
    url = os.environ.get("TEST_REDIS_URL", "")
    if not url or url.rstrip("/").rpartition("/")[2] in ("", "0"):
        print("set TEST_REDIS_URL to a scratch Redis database (not 0): it is emptied",
              file=sys.stderr)
        return 2
    import flask_migrate
    import redis as redis_lib

    from app import create_app
    from app.config import Settings
    from app.state.events import slim_event
    from app.state.ingest import apply_events
    from tests.eslpeer.synthetic import SyntheticCalls
    from tests.support.browser import chromium, wait_until
    from tests.support.web import procfile_web

    tmp = Path(tempfile.mkdtemp(prefix="fscti-shots-"))
    settings = Settings.load(env={})
    settings.database_url = f"sqlite:///{tmp / 'demo.db'}"
    settings.redis_url = url
    settings.celery_broker_url = settings.celery_result_backend = url
    settings.admin_token = "demo-admin-token-" + os.urandom(8).hex()
    redis_lib.Redis.from_url(url).flushdb()
    app = create_app(settings)
    admin = {"Authorization": f"Bearer {settings.admin_token}"}
    with app.app_context():
        flask_migrate.upgrade()
        from app.auth import create_token

        sup_token, view_token = create_token("demo-sup", "supervisor"), \
            create_token("demo-wall", "viewer")
    c = app.test_client()
    assert c.post("/api/v1/domains", json={"name": DOMAIN}, headers=admin).status_code == 201
    names = ["Ana Lopez", "Ben Okafor", "Chloe Martin", "Dev Patel", "Eva Novak", "Finn Berg",
             "Grace Kim", "Hugo Silva", "Ines Duarte", "Jon Meyer"]
    exts = [str(3000 + i) for i in range(60)]
    for i, ext in enumerate(exts):
        body = {"name": ext, "param": {"password": f"pw-{ext}-x"},
                "variable": {"effective_caller_id_name": f"{names[i % 10]} {i // 10 + 1}"},
                "enabled": i % 17 != 5}
        r = c.post(f"/api/v1/domains/{DOMAIN}/extensions", json=body, headers=admin)
        assert r.status_code == 201, r.get_json()
    client = redis_lib.Redis.from_url(url, decode_responses=True)
    live = [e for i, e in enumerate(exts) if i % 17 != 5 and i % 4 != 3]
    gen = SyntheticCalls()
    events = register_events(live)
    pairs = [(live[i], live[i + 1]) for i in range(0, 16, 2)]
    for n, (a, b) in enumerate(pairs):
        events += call_events(gen, a, b, answered=n % 4 != 3)
    slim = [e for e in (slim_event(dict(x), settings) for x in events) if e]
    apply_events(client, settings, "fs1", slim)
    OUT.mkdir(parents=True, exist_ok=True)
    with procfile_web(settings, tmp, process="console") as web, chromium(1600, 900) as d:
        base = f"http://127.0.0.1:{web.port}"
        d.get(base + "/console/login")
        d.save_screenshot(str(OUT / "signin.png"))
        d.find_element("id", "token").send_keys(sup_token)
        d.find_element("id", "signin").click()
        wait_until(d, lambda x: x.find_element("id", "conn").text == "live", what="live")
        d.find_element("id", "myphone").send_keys("3059")
        time.sleep(4)                                   # durations have ticked
        d.save_screenshot(str(OUT / "supervisor.png"))
        d.find_element("id", "filter").send_keys("on a call")
        time.sleep(0.6)
        d.find_elements("css selector", 'button.act[data-act="hangup"]')[0].click()
        time.sleep(0.3)
        d.save_screenshot(str(OUT / "confirm.png"))
        d.find_element("id", "confirm-no").click()
        d.delete_all_cookies()
        d.get(base + "/console/login")
        d.find_element("id", "token").send_keys(view_token)
        d.find_element("id", "signin").click()
        wait_until(d, lambda x: x.find_element("id", "conn").text == "live", what="live")
        d.find_element("id", "search").send_keys("Grace")
        time.sleep(0.6)
        d.save_screenshot(str(OUT / "viewer-search.png"))
    redis_lib.Redis.from_url(url).flushdb()
    print("wrote", ", ".join(sorted(p.name for p in OUT.glob("*.png"))), "in", OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
