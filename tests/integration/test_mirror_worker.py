"""Mirror tasks on a real Celery worker (real broker): reconcile, rebuild, repairs queued by the
directory endpoint and by a mirror write that could not reach Redis."""
import json
import time

import pytest
from celery.contrib.testing.worker import start_worker

import workers.tasks.mirror  # noqa: F401  (registers the fscti.directory.* tasks)
from app.directory.form import encode
from app.extensions import db
from app.mirror import write
from app.mirror.client import for_app, make_client
from app.mirror.repairs import repairs
from app.models import Extension
from app.state import keys
from tests.support.factories import commit, domain, extension
from tests.support.net import HeldPort
from tests.eslpeer.broker import purge_queues

pytestmark = pytest.mark.integration     # a Celery worker (in-process, real broker)

D = "wk.example"


@pytest.fixture
def worker(app, settings):
    purge_queues(settings.celery_broker_url, "celery")
    celery = app.extensions["celery"]
    with start_worker(celery, pool="solo", perform_ping_check=False, loglevel="WARNING",
                      shutdown_timeout=30):
        yield celery


@pytest.fixture
def dom(app_ctx):
    repairs.forget()
    app_ctx.extensions.pop("fscti-directory", None)
    d = domain(D)
    for i in range(20):
        extension(d, f"{300 + i}", password=f"p{i}")
    commit(rebuild=True)
    return d


def wait_for(predicate, timeout=30.0):
    """Poll until the worker made predicate true (the test fails if it never does)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_reconcile_task_repairs_and_reports(worker, dom, rdb):
    e = db.session.execute(db.select(Extension).filter_by(name="305")).scalar_one()
    e.param = {"password": "lost"}
    db.session.commit()
    rdb.hdel(keys.exten(D), "306")
    result = worker.send_task("fscti.directory.reconcile").get(timeout=60)
    assert result["drift"] == {"wrong": 1, "missing": 1} and result["repaired"] == 2
    assert {(s["kind"], s["name"]) for s in result["sample"]} == {("wrong", "305"), ("missing", "306")}
    assert json.loads(rdb.hget(keys.exten(D), "305"))["param"]["password"] == "lost"
    assert rdb.hexists(keys.exten(D), "306")


def test_rebuild_task(worker, dom, rdb):
    rdb.flushdb()
    result = worker.send_task("fscti.directory.rebuild", args=[D]).get(timeout=60)
    assert result["domains"][0]["status"] == "ok" and result["domains"][0]["extensions"] == 20
    assert rdb.hlen(keys.exten(D)) == 20


def test_directory_miss_is_answered_from_sql_and_repaired_by_the_worker(worker, dom, rdb, app):
    rdb.hdel(keys.exten(D), "310")
    body = encode([("hostname", "vm"), ("section", "directory"), ("tag_name", "domain"),
                   ("key_name", "name"), ("key_value", D), ("Event-Name", "REQUEST_PARAMS"),
                   ("action", "sip_auth"), ("key", "id"), ("user", "310"), ("domain", D)])
    resp = app.test_client().post("/directory", data=body, content_type="application/x-www-form-urlencoded")
    assert b'<user id="310"' in resp.data
    assert wait_for(lambda: rdb.hexists(keys.exten(D), "310"))


def test_write_lost_to_a_redis_outage_is_repaired_by_the_worker(worker, dom, rdb, app_ctx):
    e = Extension(domain=dom, name="399", param={"password": "new"})
    db.session.add(e)
    db.session.commit()
    clients = for_app(app_ctx)
    live = clients.writer
    with HeldPort() as dead:  # refuses every connection; nobody else can take the port
        clients.writer = make_client(dead.url(), 0.25)
        try:
            assert write.mirror_extensions([e]) == 0  # the API call still succeeds
        finally:
            clients.writer = live
    assert wait_for(lambda: rdb.hexists(keys.exten(D), "399"))
    assert json.loads(rdb.hget(keys.exten(D), "399"))["param"] == {"password": "new"}
