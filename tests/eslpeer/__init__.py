"""A wire-level FreeSWITCH event-socket peer for tests and benchmarks.

    from tests.eslpeer import EslPeer
    with EslPeer() as peer:                  # 127.0.0.1, ephemeral port, password ClueCon
        node = peer.node("fs1")              # app.config.FreeSwitchNode for it
        peer.wait_subscribed()               # e.g. the listener connected and ran `event json ...`
        peer.replay(phase="call1_caller_hangup")
        peer.replay(phase="register_1001_1002", rename={"1001": "5011"})   # a phone using an alias
        peer.commands()                      # every command line received, in order

See server.EslPeer for misbehaviour (greet=False, ignore={"auth"}, restart(), stop(),
send_raw(), disconnect_mid_frame(), queue_limit) and synthetic.SyntheticCalls for load.
"""
from tests.eslpeer.fixtures import (FIXTURE_CORE_UUID, WireEvent, api_outputs, default_api_table,
                                    phase_events, phases, wire_events)
from tests.eslpeer.connection import PeerConnection
from tests.eslpeer.server import EslPeer

__all__ = ["EslPeer", "PeerConnection", "WireEvent", "FIXTURE_CORE_UUID", "api_outputs",
           "default_api_table", "phase_events", "phases", "wire_events"]
