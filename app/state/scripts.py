"""The state's Lua script: loaded once per process, run with EVALSHA (one round trip a batch)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from app.state import keys

LUA_DIR = Path(__file__).parent / "lua"
# Parts of the one script, in order: each part uses names defined by the ones before it.
PARTS = ("lib.lua", "merge.lua", "gui_call.lua", "gui_registration.lua", "userinfo.lua",
         "console_feed.lua", "apply.lua")


@lru_cache(maxsize=1)
def source() -> str:
    """The whole script text."""
    return "\n".join((LUA_DIR / name).read_text(encoding="utf-8") for name in PARTS)


_registered: dict = {}


def script(client):
    """redis-py Script object for `client` (EVALSHA, reloading the script on NOSCRIPT)."""
    found = _registered.get(id(client))
    if found is None or found[0] is not client:
        found = (client, client.register_script(source()))
        _registered[id(client)] = found
    return found[1]


_configs: dict = {}


def config_json(settings) -> str:
    """ARGV[1]: the `gui` names and fields, key prefixes (the state records, the mirror) and
    TTL, as the script reads them."""
    gui, state = settings.gui, settings.state
    feed = bool(getattr(settings, "console", {}).get("feed", True))
    key = (json.dumps(gui, sort_keys=True, default=str), state["tombstone_ttl"], feed)
    cached = _configs.get(key)
    if cached is not None:
        return cached
    cfg = {
        "cp": keys.channel_prefix(), "bp": keys.node_bindings_prefix(),
        "up": keys.userinfo_prefix(), "xp": keys.call_state_prefix(),
        "gp": keys.reg_state_prefix(),
        "ep": keys.exten_prefix(), "ap": keys.alias_prefix(),
        "ttl": max(1, int(state["tombstone_ttl"])),
        "rh": keys.gui_registration_hash(gui), "rc": keys.gui_registration_channel(gui),
        "rl": keys.gui_registration_list(gui),
        "rmax": max(1, int(gui["registration"].get("list_max") or 10000)),
        "ch": keys.gui_call_hash(gui), "cc": keys.gui_call_channel(gui),
        "cl": keys.gui_call_list(gui), "cmax": max(1, int(gui["call"].get("list_max") or 10000)),
        "rmh": bool(gui["call"].get("remove_hangup")),
        "fields": list(dict.fromkeys(gui["call"].get("fields") or [])),
    }
    if feed:        # the console's change feed (app/console/hub.py)
        cfg.update(kp=keys.console_prefix(), ksp=keys.console_seq_prefix())
    text = json.dumps(cfg)
    if len(_configs) > 64:
        _configs.clear()
    _configs[key] = text
    return text
