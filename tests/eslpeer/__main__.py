"""Run the peer on its own, e.g. to point a local listener at it (docs/listener.md):

    .venv/bin/python -m tests.eslpeer --port 8021 --replay
    .venv/bin/python -m tests.eslpeer --port 8021 --calls 2000 --rate 1000 --loop

It waits for a subscriber (the listener's `event json ...`), then replays the capture or
plays synthetic calls, prints what it sent, and keeps serving `api` commands until Ctrl-C.
"""
from __future__ import annotations

import argparse
import time

from tests.eslpeer import EslPeer
from tests.eslpeer.synthetic import SyntheticCalls


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.eslpeer", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8021)
    p.add_argument("--password", default="ClueCon")
    p.add_argument("--replay", action="store_true", help="replay events_json_wire.txt")
    p.add_argument("--phase", help="replay only this phase of phases.jsonl")
    p.add_argument("--calls", type=int, default=0, help="synthetic calls to play")
    p.add_argument("--rate", type=float, default=None, help="events/s (default: as fast as read)")
    p.add_argument("--loop", action="store_true", help="repeat the load until Ctrl-C")
    p.add_argument("--heartbeat", type=float, default=20.0, help="HEARTBEAT every N s (0: off)")
    args = p.parse_args(argv)

    peer = EslPeer(args.password, host=args.host, port=args.port, record=False).start()
    print(f"event socket on {peer.host}:{peer.port} (password {args.password!r}); "
          f"FREESWITCH_ESL={peer.esl_env()}", flush=True)
    gen = SyntheticCalls() if args.calls else None
    last_beat = time.monotonic()
    try:
        while True:
            peer.wait_subscribed(timeout=10**9)
            if args.replay or args.phase:
                sent = peer.replay(phase=args.phase, block=True)
                print(f"replayed {len(sent)} event(s)", flush=True)
            if gen:
                stats = gen.run(peer, calls=args.calls, rate=args.rate)
                print(f"{stats.calls} calls, {stats.events} events in {stats.seconds:.2f}s "
                      f"= {stats.rate:.0f} events/s", flush=True)
            if not args.loop:
                break
        while True:
            time.sleep(1)
            if args.heartbeat and time.monotonic() - last_beat >= args.heartbeat:
                peer.heartbeat()
                last_beat = time.monotonic()
    except KeyboardInterrupt:
        pass
    finally:
        peer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
