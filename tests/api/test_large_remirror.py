"""A template or domain with many dependents is re-mirrored by a task, not in the request.

Up to mirror_flush.INLINE_MIRROR_MAX dependents (2000) the request re-mirrors them itself (200);
beyond, it answers 202 with `mirror` naming the queued task, whose message is read from the
real broker and run here with exactly its arguments: re-mirror first, then the cache flush.
The limit is lowered to 2 so that three extensions are "many".
"""
import base64
import dataclasses
import json

import pytest
import redis as redis_lib

from app import create_app, tasknames
from app.services import mirror_flush
from app.state import keys
from tests.support.directory_api import flushes, mirrored  # noqa: F401  (flushes: a fixture)
from tests.support.factories import mk_domain, mk_ext, mk_template
from tests.support.net import HeldPort
from workers.tasks import mirror as mirror_tasks

NAMES = ["1001", "1002", "1003"]


@pytest.fixture
def broker(settings):
    """The real broker's `celery` queue: messages of one task, by name (left for others)."""
    r = redis_lib.Redis.from_url(settings.celery_broker_url)
    mine = (tasknames.DIRECTORY_MIRROR_TEMPLATE, tasknames.DIRECTORY_REMIRROR_DOMAIN)

    def messages(task):
        out = []
        for raw in r.lrange("celery", 0, -1):
            env = json.loads(raw)
            if env["headers"]["task"] == task:
                args, kwargs, _ = json.loads(base64.b64decode(env["body"]))
                out.append({"id": env["headers"]["id"], "args": args, "kwargs": kwargs})
        return out

    def drop():
        for raw in r.lrange("celery", 0, -1):
            if json.loads(raw)["headers"]["task"] in mine:
                r.lrem("celery", 0, raw)

    drop()
    yield messages
    drop()


@pytest.fixture
def world(client, admin, monkeypatch):
    """Three extensions of one cached template; more than the (lowered) inline limit."""
    monkeypatch.setattr(mirror_flush, "INLINE_MIRROR_MAX", 2)
    mk_domain(client, admin)
    mk_template(client, admin, "agents", variable={"team": "a"}, attribute={"cacheable": "10000"})
    for name in NAMES:
        mk_ext(client, admin, name, template="agents", param={"password": "p" + name})
    return "example.com"


def teams(rdb, domain):
    return [mirrored(rdb, domain, n)["variable"]["team"] for n in NAMES]


def test_a_template_with_many_dependents_is_re_mirrored_by_its_task(client, admin, rdb, world,
                                                                    broker, flushes, app_ctx):
    flushes()                                       # (creating them queued nothing to flush)
    r = client.patch("/api/v1/templates/agents", json={"variable": {"team": "b"}}, headers=admin)
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["name"] == "agents" and body["variable"] == {"team": "b"}
    (msg,) = broker(tasknames.DIRECTORY_MIRROR_TEMPLATE)
    assert body["mirror"] == {"status": "queued", "task": "fscti.directory.mirror_template",
                              "task_id": msg["id"], "extensions": 3}
    assert msg["kwargs"] == {"flush": {"old": {"cacheable": "10000"},
                                       "new": {"cacheable": "10000"}}}
    # Not done in the request: Redis still has the old value, nothing flushed yet.
    assert teams(rdb, world) == ["a", "a", "a"] and flushes() == []
    result = mirror_tasks.mirror_template.run(*msg["args"], **msg["kwargs"])
    assert result == {"template_id": msg["args"][0], "mirrored": 3, "flushed": 3}
    assert teams(rdb, world) == ["b", "b", "b"]
    assert flushes() == [(world, NAMES)]


def test_a_domain_with_many_extensions_is_re_mirrored_by_its_task(client, admin, rdb, world,
                                                                  broker, flushes, app_ctx):
    flushes()
    r = client.patch(f"/api/v1/domains/{world}", json={"variable": {"zone": "eu"}},
                     headers=admin)
    assert r.status_code == 202, r.get_json()
    (msg,) = broker(tasknames.DIRECTORY_REMIRROR_DOMAIN)
    assert r.get_json()["mirror"] == {"status": "queued", "task": "fscti.directory.remirror_domain",
                                      "task_id": msg["id"], "extensions": 3}
    assert msg["args"] == [world] and r.get_json()["variable"]["zone"] == "eu"
    # the domain's own entry is written at once (one key); the extensions wait for the task
    assert json.loads(rdb.hget(keys.domains(), world))["variable"]["zone"] == "eu"
    assert flushes() == []
    rdb.hdel(keys.exten(world), "1002")             # a drift the task's re-mirror repairs
    assert mirror_tasks.remirror_domain.run(*msg["args"]) == {"domain": world, "status": "ok",
                                                             "mirrored": 3}
    assert mirrored(rdb, world, "1002")["variable"]["team"] == "a"
    assert flushes() == [(world, NAMES)]
    assert mirror_tasks.remirror_domain.run("gone.example") == {"domain": "gone.example",
                                                               "status": "gone", "mirrored": 0}


def test_up_to_the_limit_it_is_done_in_the_request(client, admin, rdb, world, broker, flushes,
                                                   monkeypatch, app_ctx):
    monkeypatch.setattr(mirror_flush, "INLINE_MIRROR_MAX", 3)
    flushes()
    r = client.put("/api/v1/templates/agents", headers=admin, json={
        "variable": {"team": "c"}, "attribute": {"cacheable": "10000"}})
    assert r.status_code == 200 and "mirror" not in r.get_json()
    assert teams(rdb, world) == ["c", "c", "c"] and flushes() == [(world, NAMES)]
    r = client.patch(f"/api/v1/domains/{world}", json={"variable": {"zone": "us"}}, headers=admin)
    assert r.status_code == 200 and "mirror" not in r.get_json()
    assert broker(tasknames.DIRECTORY_MIRROR_TEMPLATE) == []
    assert broker(tasknames.DIRECTORY_REMIRROR_DOMAIN) == []


def test_an_unchanged_template_queues_nothing(client, admin, world, broker):
    r = client.patch("/api/v1/templates/agents", json={"variable": {"team": "a"}}, headers=admin)
    assert r.status_code == 200 and broker(tasknames.DIRECTORY_MIRROR_TEMPLATE) == []


def test_with_the_broker_down_it_is_done_in_the_request(app, settings, client, admin, rdb,
                                                        world, broker):
    """Slow but complete: the committed change must reach Redis even without a task."""
    dead = HeldPort()  # bound, never listening: refused, and nobody else can take it
    down = dataclasses.replace(settings, celery_broker_url=dead.url())
    other = create_app(down, TESTING=True)
    try:
        r = other.test_client().patch("/api/v1/templates/agents", headers=admin,
                                      json={"variable": {"team": "d"}})
        assert r.status_code == 200, r.get_json()
        assert "mirror" not in r.get_json()
    finally:
        app.extensions["celery"].set_current()      # the session app's Celery again
        app.extensions["celery"].set_default()
        dead.release()
    assert teams(rdb, world) == ["d", "d", "d"]


def test_the_task_is_registered_and_routed(app):
    import celeryconfig

    celery = app.extensions["celery"]
    for name in (tasknames.DIRECTORY_MIRROR_TEMPLATE, tasknames.DIRECTORY_REMIRROR_DOMAIN):
        assert name in celery.tasks
        assert celeryconfig.task_routes[name] == {"queue": "celery"}
