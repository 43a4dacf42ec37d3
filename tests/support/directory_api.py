"""Helpers of the directory API tests: read the mirror, the effective configuration and the
flush_cache tasks queued (fixture `flushes`). Resources are created with
tests.support.factories (mk_domain, mk_template, mk_ext)."""
import base64
import json

import pytest
import redis as redis_lib

from app.state import keys

FLUSH_TASK = "fscti.directory.flush_cache"


def mirrored(rdb, domain, name):
    """The decoded `cti_exten@<domain>` field of an extension, or None."""
    raw = rdb.hget(keys.exten(domain), name)
    return None if raw is None else json.loads(raw)


def effective_of(client, headers, domain, name):
    r = client.get(f"/api/v1/domains/{domain}/extensions/{name}/effective",
                   query_string={"include_secrets": "true"}, headers=headers)
    assert r.status_code == 200, r.json
    return r.json


def _flush_messages(broker):
    found = []
    for key in broker.scan_iter():
        if broker.type(key) != b"list":
            continue
        for raw in broker.lrange(key, 0, -1):
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if msg.get("headers", {}).get("task") == FLUSH_TASK:
                found.append((key, raw, msg))
    return found


@pytest.fixture
def flushes(settings):
    """Read the flush_cache tasks queued on the real broker; removes them after the test."""
    broker = redis_lib.Redis.from_url(settings.celery_broker_url)

    def _drop():
        for key, raw, _ in _flush_messages(broker):
            broker.lrem(key, 0, raw)

    def read():
        out = []
        for _, _, msg in _flush_messages(broker):
            args = json.loads(base64.b64decode(msg["body"]))[0]
            out.append((args[0], sorted(args[1])))
        return sorted(out)

    _drop()
    yield read
    _drop()
