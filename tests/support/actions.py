"""Helpers for the supervisor-action and /cli tests: real call state, peers as nodes, job results.

- `call5_up(rdb, settings, node)`: the captured call 5 (1001 → 1002, bridged) in the live
  state, fed through the state's ingest exactly as the listener would, labelled with `node`.
- `use_nodes(monkeypatch, settings, fs1=peer, ...)`: the app's FreeSWITCH nodes are these peers.
- `JobFeed(peer, rdb, settings, node)`: a real event connection to the peer subscribed to
  BACKGROUND_JOB, feeding each result through the ingest into `keys.job_result`.
- `wire(peer)`: the api/bgapi/sendevent packets a peer received, in order.
"""
from __future__ import annotations

import threading

import redis as redis_lib

from app.esl import commands
from app.esl.errors import EslError
from app.esl.stream import EventStream
from app.state.events import slim_event
from app.state.ingest import apply_events
from tests.support.replay import slim_events, until

A5 = "7b12b60d-bb3e-4b17-9ee8-bc18e8ff15de"     # call 5, 1001's leg (the A-leg)
B5 = "f560aa35-82e1-4341-bf50-75684b32cd2e"     # call 5, 1002's leg, A5's signal_bond
CALL5_UP_US = 1795670604_000000                  # bridged, before the captured eavesdrop
DOMAIN = "127.0.0.1"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def call5_up(rdb, settings, node: str = "fs1") -> None:
    """Put call 5 (bridged) into the live state as seen from `node`."""
    apply_events(rdb, settings, node, until(slim_events(settings), CALL5_UP_US), now=CALL5_UP_US)


def use_nodes(monkeypatch, settings, **peers) -> None:
    """Make the app's configured FreeSWITCH nodes exactly these peers (name=peer)."""
    monkeypatch.setattr(settings, "freeswitch", [peer.node(name) for name, peer in peers.items()])


def wire(peer) -> list:
    """Command packets (api, bgapi, sendevent) the peer received, in arrival order."""
    return [p for p in peer.packets()
            if p.command.split(" ", 1)[0] in ("api", "bgapi", "sendevent")]


def lines(peer) -> list[str]:
    return [p.command for p in wire(peer)]


def purge_actions_queue(settings) -> None:
    """Drop queued action tasks (the API tests run the tasks themselves, in-process)."""
    redis_lib.Redis.from_url(settings.celery_broker_url).delete("actions")


class JobFeed:
    """BACKGROUND_JOB events of one peer → the state's ingest → Redis, in a thread (a mini listener)."""

    def __init__(self, peer, rdb, settings, node: str = "fs1"):
        self.peer, self.rdb, self.settings, self.node = peer, rdb, settings, node
        self.stream = EventStream(peer.node(node), timeout=5, idle_timeout=60, subscriptions=(
            commands.event_subscriptions("json", events=("BACKGROUND_JOB",), custom=())))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.seen: list[dict] = []

    def __enter__(self) -> "JobFeed":
        self.stream.open()
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stream.close()
        self.thread.join(5)

    def _run(self) -> None:
        while True:
            try:
                batch = self.stream.read()
            except (EslError, OSError):
                return
            events = [e for e in (slim_event(event, self.settings) for event, _ in batch) if e]
            if events:
                apply_events(self.rdb, self.settings, self.node, events)
                self.seen += events
