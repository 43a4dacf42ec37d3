"""The event-socket listener process (Procfile: listener): decodes events and enqueues them.

Stub: connects to every configured FreeSWITCH node and waits, retrying. The full listener is
built in the event-state work.
"""
import logging
import time

from app import create_app

log = logging.getLogger("fscti.listener")


def main():
    app = create_app()
    nodes = app.config["FSCTI"].freeswitch
    if not nodes:
        log.warning("no FreeSWITCH node configured (FREESWITCH_ESL or `freeswitch` in FSCTI_CONFIG); waiting")
    while True:
        time.sleep(30)


if __name__ == "__main__":
    main()
