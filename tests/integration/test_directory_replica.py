"""The per-host replica end to end: a private redis-server, real SQL, the real replica process
(workers/replica.py) and gunicorn with `directory.replica` on. Lookups are answered from the
file with no Redis round trip; an API change is in the file when the API call returns (the
fence waits for every live replica); a rebuild reaches the file; a killed replica is neither
waited for nor trusted once its lease runs out; Redis down means SQL, never the file."""
import hashlib
import json
import time

import pytest
import redis as redis_lib

from app.directory.lookup import LOOKUP
from app.extensions import db
from app.mirror.rebuild import rebuild_domain
from app.models import Extension
from tests.support.directory_cache import private_mirror
from tests.support.factories import commit, domain, extension
from tests.support.redis_server import needs_redis_server
from tests.support.gunicorn import Gunicorn
from tests.support.replica import FileWatch, ReplicaProc

D = "replica.example"
TOKEN = "replica-admin-token"
LEASE = 1.0
pytestmark = [pytest.mark.integration, needs_redis_server, pytest.mark.timeout(300)]
LOOKUP_SHA = hashlib.sha1(LOOKUP.encode()).hexdigest()
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
def hosted(app_ctx, settings, tmp_path):
    """replica.example (1001 alias 501, 1002, 1003 disabled) mirrored into a private Redis; the
    replica process of host-a filled from it; gunicorn (answer cache off) reading its file."""
    with private_mirror(app_ctx) as srv:
        yield from _hosted(settings, tmp_path, srv)


def _hosted(settings, tmp_path, srv):
    d = domain(D)
    extension(d, "1001", password="pw-0", alias="501")
    extension(d, "1002", password="other")
    extension(d, "1003", password="off", enabled=False)
    commit(rebuild=True)
    path = str(tmp_path / "replica")
    env = {**__import__("os").environ, "DATABASE_URL": settings.database_url, "REDIS_URL": srv.url,
           "CELERY_BROKER_URL": srv.url_for(1), "CELERY_RESULT_BACKEND": srv.url_for(1),
           "FSCTI_ADMIN_TOKEN": TOKEN, "LOG_LEVEL": "INFO", "FSCTI_DIRECTORY_REPLICA_PATH": path,
           "FSCTI_DIRECTORY_REPLICA_HOST": "host-a", "FSCTI_DIRECTORY_REPLICA_LEASE": str(LEASE)}
    env.pop("FSCTI_CONFIG", None)
    rep = ReplicaProc(env, tmp_path / "replica.log")
    watch = FileWatch(path)
    watch.wait(True, 60, "after start")
    lookups_in_redis(srv)  # from now on every command is in the slow log
    web = Gunicorn({**env, "FSCTI_DIRECTORY_REPLICA": "on", "FSCTI_DIRECTORY_CACHE": "off",
                    "LOG_LEVEL": "WARNING"}, tmp_path / "gunicorn.log")
    yield web, srv, rep, watch
    web.close()
    rep.close()
    watch.close()


def lookups_in_redis(srv) -> int:
    """How many lookup scripts Redis has run (its slow log, set to record every command, names
    each EVALSHA's script: the mirror's write scripts and the replica's renewals are EVALSHAs too)."""
    r = redis_lib.Redis.from_url(srv.url)
    r.config_set("slowlog-log-slower-than", 0)
    r.config_set("slowlog-max-len", 1000000)
    return sum(1 for e in r.slowlog_get(-1)
               if e["command"].startswith(b"EVALSHA " + LOOKUP_SHA.encode()))


def patch(web, name, body):
    status, data = web.request("PATCH", f"/api/v1/domains/{D}/extensions/{name}", json.dumps(body).encode(),
                               HEADERS)
    assert status == 200, data


def test_lookups_are_answered_from_the_file_without_redis(hosted):
    web, srv, _, _ = hosted
    before = lookups_in_redis(srv)
    for _ in range(30):
        assert web.user(D, "1001")["password"] == "pw-0"
        assert web.user(D, "501")["id"] == "1001"      # by its number-alias
        assert web.user(D, "1002")["password"] == "other"
        assert web.user(D, "1003") is None             # disabled
    assert lookups_in_redis(srv) == before


def test_every_api_change_is_in_the_file_when_the_call_returns(hosted):
    web, srv, _, watch = hosted
    before = lookups_in_redis(srv)
    stale = []
    for i in range(1, 151):
        patch(web, "1001", {"param": {"password": f"api-{i}"}})
        got = web.user(D, "1001")
        if got is None or got["password"] != f"api-{i}":
            stale.append((i, got))
    patch(web, "1001", {"attribute": {"number-alias": "777"}})
    assert web.user(D, "777")["id"] == "1001" and web.user(D, "501") is None
    patch(web, "1002", {"enabled": False})
    assert web.user(D, "1002") is None
    patch(web, "1003", {"enabled": True})
    assert web.user(D, "1003")["password"] == "off"
    status, _ = web.request("DELETE", f"/api/v1/domains/{D}/extensions/1003", None, HEADERS)
    assert status == 204
    assert web.user(D, "1003") is None
    status, _ = web.request("POST", f"/api/v1/domains/{D}/extensions",
                            json.dumps({"name": "2001", "param": {"password": "new"}}).encode(), HEADERS)
    assert status == 201
    assert web.user(D, "2001")["password"] == "new"
    assert stale == []
    assert watch.meta()["trusted"]
    assert lookups_in_redis(srv) == before  # every one of those answers came from the file


def test_a_rebuild_reaches_the_file(hosted, app_ctx):
    web, srv, rep, watch = hosted
    row = db.session.query(Extension).filter_by(name="1002").one()
    db.session.delete(row)  # in SQL only: only the rebuild tells the mirror
    db.session.commit()
    assert web.user(D, "1002") is not None
    rebuild_domain(D)
    assert web.user(D, "1002") is None  # right when the rebuild returns
    watch.wait(True, 30, "after the rebuild")
    before = lookups_in_redis(srv)
    assert web.user(D, "1002") is None and web.user(D, "1001")["password"] == "pw-0"
    assert lookups_in_redis(srv) == before
    assert "after its rebuild" in rep.tail()


def test_a_killed_replica_is_not_waited_for_and_not_trusted(hosted):
    web, srv, rep, watch = hosted
    rep.kill()
    t0 = time.monotonic()
    patch(web, "1001", {"param": {"password": "while-dead"}})
    took = time.monotonic() - t0
    assert took < LEASE + 2.0  # waited at most until the lease ran out
    assert not watch.meta()["trusted"]
    before = lookups_in_redis(srv)
    assert web.user(D, "1001")["password"] == "while-dead"
    assert lookups_in_redis(srv) > before  # from Redis now
    rep.start()
    watch.wait(True, 60, "after the restart")
    before = lookups_in_redis(srv)
    assert web.user(D, "1001")["password"] == "while-dead"
    assert lookups_in_redis(srv) == before


def test_redis_down_means_sql_never_the_file(hosted, app_ctx):
    web, srv, rep, watch = hosted
    srv.stop()
    watch.wait(False, LEASE / 2, "after Redis stopped")  # the replica saw the connection go, before its lease ran out
    row = db.session.query(Extension).filter_by(name="1001").one()
    row.param = {**row.param, "password": "from-sql"}
    db.session.commit()  # the mirror cannot be told: Redis is down
    assert web.user(D, "1001")["password"] == "from-sql"
    assert web.user(D, "1002")["password"] == "other"  # an existing extension still registers
    srv.start()
    assert rep.proc.poll() is None
