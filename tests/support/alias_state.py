"""Phones registered by their extension's number-alias, for the state tests.

Extensions 1011, 1012, 1013 with number-aliases 5011, 5012, 5013, mirrored by the mirror's
own script; the real capture replayed with 1001/1002/1003 replaced by the aliases in every
header (tests.eslpeer.aliases).
"""
import json

from app.mirror.write import write_ops
from app.state.events import slim_event
from app.state.ingest import apply_events
from tests.eslpeer.aliases import renamed
from tests.support.replay import DOMAIN, NODE, outputs, raw_events

ALIASES = {"1001": "5011", "1002": "5012", "1003": "5013"}
EXTENSION_OF = {"5011": "1011", "5012": "1012", "5013": "1013"}
NOW = 1795670656_000000


def mirror(rdb, *pairs):
    """Mirror extensions (name, alias) as the API does (one WRITE script run)."""
    def value(alias):
        return json.dumps({"param": {"password": "1234"}, "variable": {},
                           "attribute": {"number-alias": alias} if alias else {}})
    write_ops(rdb, DOMAIN, [["U", name, value(alias), alias] for name, alias in pairs])


def mirror_all(rdb):
    mirror(rdb, *((x, a) for a, x in EXTENSION_OF.items()))


def events(settings, *seqs, names=ALIASES):
    """The captured events of these Event-Sequence numbers, renamed, as the listener slims them."""
    index = {e["Event-Sequence"]: e for e in raw_events()}
    return [slim_event(renamed(index[str(s)], names), settings) for s in seqs]


def aliased_capture(settings, names=ALIASES):
    out = [slim_event(renamed(e, names), settings) for e in raw_events()]
    return [e for e in out if e]


def apply(rdb, settings, evs, now=NOW):
    return apply_events(rdb, settings, NODE, evs, now=now)


def registered(rdb) -> dict:
    return {x: v["register"]["call-id"] for x, v in outputs(rdb)["userinfo"].items()
            if "register" in v}
