"""Several listeners: two real listener processes, three wire-level peers, a real Celery worker.

The listeners split the three nodes 2/1 by their leases. Phones register, refresh and
unregister and calls run on every peer; the listener that owns two nodes is SIGKILLed
mid-stream. The other must hold both within 5 s (measured from the kill to the peers seeing
its subscribed connections), resync them, and the state must end exactly equal to every
peer's own tables (tests/eslpeer/tables.py): no event lost, none applied twice.
A listener paused (SIGSTOP) past its lease and woken again must drop its node at once, and
nothing it sent after the takeover may be applied (the fencing token).
"""
import dataclasses
import json
import os
import signal
import time
import uuid

import pytest

from app.state import keys, lease
from tests.eslpeer import EslPeer
from tests.eslpeer.load import NodeLoad
from tests.eslpeer.procs import (PIPELINE_FAST, listener_cmd, log_text, process_env, running,
                                 wait_for, worker_cmd)
from tests.eslpeer.broker import purge_queues
from tests.eslpeer.tables import PeerTables, state_view
from tests.support import factories

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DOMAIN = "127.0.0.1"
NODES = ("fs1", "fs2", "fs3")
PHONES = {n: [f"{i + 3}{j:03d}" for j in range(30)] for i, n in enumerate(NODES)}
TAKEOVER_MAX_S = 5.0


@pytest.fixture
def directory(app, rdb):
    """Every phone is a directory user (a resync adopts the calls of known users only)."""
    from app.state import generation

    with app.app_context():
        d = factories.domain(DOMAIN)
        for phones in PHONES.values():
            for ext in phones:
                factories.extension(d, ext, password="x")
        factories.commit(rebuild=True)
    generation.stamp(rdb)


def owners(rdb) -> dict:
    return {n: (lease.holder(rdb, n) or {}).get("owner") for n in NODES}


def tokens(rdb) -> dict:
    return {n: (lease.holder(rdb, n) or {}).get("token") for n in NODES}


def listener_of(rdb, procs: dict) -> dict:
    """owner id -> process, from the ids the listeners log at start."""
    out = {}
    for path, proc in procs.items():
        for line in log_text(path).splitlines():
            if "fscti.listener: listener " in line and " starting for " in line:
                out[line.split("fscti.listener: listener ", 1)[1].split(" ", 1)[0]] = (proc, path)
    return out


def subscribed_once(peer) -> bool:
    return len(peer.subscribers()) == 1


def wait_exact(rdb, tables: dict, timeout: float, what: str, logs=()):
    def same():
        return all(state_view(rdb, n, DOMAIN) == t.expected() for n, t in tables.items())
    try:
        wait_for(same, timeout, interval=0.2, what=what)
    except AssertionError:
        for n, t in tables.items():
            want, got = t.expected(), state_view(rdb, n, DOMAIN)
            for part in want:
                missing = {k: v for k, v in want[part].items() if got[part].get(k) != v}
                extra = {k: v for k, v in got[part].items() if k not in want[part]}
                if missing or extra:
                    print(n, part, "missing/different:", dict(list(missing.items())[:5]),
                          "extra:", dict(list(extra.items())[:5]))
                if part == "channels":
                    for u in list(extra)[:3]:
                        print("  extra", u, "in table:", u in t.chans, "hanging up:", u in t.hungup,
                              rdb.get(keys.channel(u))[:600])
        for path in logs:
            print(f"--- {path.name} ---\n{log_text(path)[-6000:]}")
        raise


def test_sigkill_of_the_owner_of_two_nodes_the_other_takes_them_and_state_is_exact(
        app, rdb, settings, tmp_path, directory):
    purge_queues(settings.celery_broker_url, "events", "celery")
    peers = {n: EslPeer(core_uuid=str(uuid.uuid4())).start() for n in NODES}
    try:
        tables = {n: PeerTables(p, n, DOMAIN) for n, p in peers.items()}
        env = process_env(settings, tmp_path, nodes=list(peers.items()), extra=PIPELINE_FAST)
        wlog, la, lb = tmp_path / "worker.log", tmp_path / "listener-a.log", tmp_path / "listener-b.log"
        with running(worker_cmd(queues="events", concurrency=2), env, wlog), \
                running(listener_cmd(), env, la) as pa, running(listener_cmd(), env, lb) as pb:
            # balanced: 2 + 1, one subscribed connection per peer, every node resynced once
            def balanced():
                held = list(owners(rdb).values())
                return (None not in held and sorted(held.count(o) for o in set(held)) == [1, 2]
                        and all(subscribed_once(p) for p in peers.values())
                        and all(rdb.hget(keys.node(n), "resync_reason") for n in NODES))
            wait_for(balanced, 30, what="2/1 split of the leases", log=la)
            loads = {n: NodeLoad(tables[n], PHONES[n], refresh=3.0, cps=3.0, call_seconds=1.5,
                                 unregister_every=4, seed=i) for i, n in enumerate(NODES)}
            for ld in loads.values():
                ld.register_all()
                ld.start()
            time.sleep(2.0)
            who = owners(rdb)
            ids = listener_of(rdb, {la: pa, lb: pb})
            doomed = next(o for o in set(who.values()) if list(who.values()).count(o) == 2)
            survivor = next(o for o in set(who.values()) if o != doomed)
            victim, _ = ids[doomed]
            taken = [n for n, o in who.items() if o == doomed]
            before = tokens(rdb)
            killed_at, killed_wall = time.monotonic(), time.time()
            os.kill(victim.pid, signal.SIGKILL)

            def taken_over():
                now = owners(rdb)
                return (all(now[n] == survivor for n in NODES)
                        and all(subscribed_once(peers[n]) for n in taken)
                        and all(peers[n].subscribers()[0].opened_at > killed_wall for n in taken))
            wait_for(taken_over, 15, interval=0.02, what="the takeover", log=lb if victim is pa else la)
            took = time.monotonic() - killed_at
            print(f"takeover of {taken} by {survivor}: {took:.2f} s after SIGKILL")
            after = tokens(rdb)
            assert all(after[n] > before[n] for n in taken)        # new tokens: new fences
            time.sleep(2.0)                                         # the load goes on
            for ld in loads.values():
                ld.stop()
                assert not ld.errors
            assert any(t.chans for t in tables.values())           # calls still up at the end
            assert sum(len(t.regs) for t in tables.values()) > 60
            wait_exact(rdb, tables, 30, "the state equal to the peers' tables",
                       logs=(wlog, la, lb))
            # each taken node was resynced by its new owner, under its new token
            assert {n: int(rdb.hget(keys.node(n), "resync_token")) for n in taken} == {
                n: after[n] for n in taken}
            # health shows each node's owner and token
            from app.services import health
            configured = dataclasses.replace(settings, freeswitch=[p.node(n) for n, p in peers.items()])
            nodes = {h["node"]: h for h in health.nodes(configured, rdb)}
            assert {n: (h["owner"], h["lease_token"]) for n, h in nodes.items()} == {
                n: (survivor, after[n]) for n in NODES}
            assert took <= TAKEOVER_MAX_S, f"takeover took {took:.2f} s"
    finally:
        for p in peers.values():
            p.close()
    assert "Traceback" not in log_text(wlog)


def test_a_paused_owner_that_wakes_up_drops_its_node_and_nothing_it_sends_is_applied(
        app, rdb, settings, tmp_path, directory):
    purge_queues(settings.celery_broker_url, "events", "celery")
    with EslPeer(core_uuid=str(uuid.uuid4())) as peer:
        tables = PeerTables(peer, "fs1", DOMAIN)
        env = process_env(settings, tmp_path, nodes=[("fs1", peer)], extra=PIPELINE_FAST)
        wlog, la, lb = tmp_path / "worker.log", tmp_path / "listener-a.log", tmp_path / "listener-b.log"
        with running(worker_cmd(queues="events", concurrency=2), env, wlog), \
                running(listener_cmd(), env, la) as pa:
            wait_for(lambda: owners(rdb)["fs1"] and subscribed_once(peer), 20, what="a owns fs1",
                     log=la)
            first = lease.holder(rdb, "fs1")
            with running(listener_cmd(), env, lb):
                def alive():
                    sec, usec = rdb.time()
                    return rdb.zcount(keys.listeners(), sec * 1000 + usec // 1000, "+inf")
                wait_for(lambda: alive() == 2, 10, what="b alive")
                os.kill(pa.pid, signal.SIGSTOP)      # a freezes while holding fs1
                try:
                    wait_for(lambda: (lease.holder(rdb, "fs1") or {}).get("owner") not in
                             (None, first["owner"]), 15, what="b takes fs1", log=lb)
                    wait_for(lambda: len(peer.subscribers()) >= 1 and rdb.hget(
                        keys.node("fs1"), "resync_reason"), 10, what="b subscribed")
                    second = lease.holder(rdb, "fs1")
                    assert second["token"] > first["token"]
                    load = NodeLoad(tables, PHONES["fs1"][:10], refresh=0, cps=0)
                    load.register_all()              # seen by a's dead socket and b's
                finally:
                    os.kill(pa.pid, signal.SIGCONT)  # a wakes up with events in its socket
                wait_for(lambda: "dropping the node" in log_text(la), 10,
                         what="a drops fs1", log=la)
                wait_for(lambda: state_view(rdb, "fs1", DOMAIN) == tables.expected(), 20,
                         what="exact state", log=wlog)
                time.sleep(1.0)
                assert owners(rdb)["fs1"] == second["owner"]
                assert len(peer.subscribers()) == 1                  # a closed its connection
                stale = [ln for ln in log_text(wlog).splitlines() if "refused a batch" in ln]
                print("\n".join(stale))
                assert state_view(rdb, "fs1", DOMAIN) == tables.expected()
    status = json.loads(rdb.get(keys.listener_status("fs1")) or "{}")
    assert status.get("token") == second["token"]
