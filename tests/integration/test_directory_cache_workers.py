"""The answer cache in real gunicorn workers: a write through the mirror (from this process, or
through the API served by one worker) is seen by the very next lookup, whichever worker takes
it; lookups without writes are served from the workers' caches."""
import json
import os

import pytest
import redis as redis_lib

from app.mirror import write
from app.mirror.client import writer
from tests.support.gunicorn import Gunicorn
from tests.support.directory_cache import private_mirror
from tests.support.factories import commit, domain, extension
from tests.support.redis_server import needs_redis_server

D = "workers.example"
TOKEN = "cache-workers-admin-token"
WORKERS = 3
pytestmark = [pytest.mark.integration, needs_redis_server]


@pytest.fixture
def served(app_ctx, settings, tmp_path):
    """A private Redis, domain workers.example (1001, 1002) mirrored there, and gunicorn on it."""
    with private_mirror(app_ctx) as srv:
        yield from _served(settings, tmp_path, srv)


def _served(settings, tmp_path, srv):
    d = domain(D)
    extension(d, "1001", password="pw-0")
    extension(d, "1002", password="other")
    commit(rebuild=True)
    env = dict(os.environ, DATABASE_URL=settings.database_url, REDIS_URL=srv.url,
               CELERY_BROKER_URL=srv.url_for(1), CELERY_RESULT_BACKEND=srv.url_for(1),
               FSCTI_ADMIN_TOKEN=TOKEN, FSCTI_DIRECTORY_CACHE="on",
               FSCTI_DIRECTORY_CACHE_MAX_AGE="60", LOG_LEVEL="WARNING")
    env.pop("FSCTI_CONFIG", None)
    server = Gunicorn(env, tmp_path / "gunicorn.log", WORKERS)
    yield server, srv
    server.close()


def lookup(server, user="1001") -> str | None:
    u = server.user(D, user)
    return None if u is None else u["password"]


def evalsha_calls(srv) -> int:
    stats = redis_lib.Redis.from_url(srv.url).info("commandstats")
    return int((stats.get("cmdstat_evalsha") or {}).get("calls", 0))


def test_every_worker_sees_every_write_at_once(served):
    server, srv = served
    for _ in range(3 * WORKERS):  # let every worker cache 1001
        assert lookup(server) == "pw-0"
    w = writer()
    stale = []
    for i in range(1, 3001):  # written by this process through the mirror's script
        value = json.dumps({"param": {"password": f"pw-{i}"}, "variable": {}, "attribute": {}})
        assert write.write_ops(w, D, [["U", "1001", value, ""]]) == 1
        got = lookup(server)
        if got != f"pw-{i}":
            stale.append((i, got))
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    for i in range(1, 301):  # written by a worker through the API, then looked up at once
        status, _ = server.request("PATCH", f"/api/v1/domains/{D}/extensions/1001",
                                   json.dumps({"param": {"password": f"api-{i}"}}).encode(), headers)
        assert status == 200
        got = lookup(server)
        if got != f"api-{i}":
            stale.append(("api", i, got))
    assert stale == []

    # Without writes the workers answer from their caches: at most one miss per worker.
    before = evalsha_calls(srv)
    for _ in range(200):
        assert lookup(server) == "api-300"
        assert lookup(server, "1002") == "other"
    assert evalsha_calls(srv) - before <= 2 * WORKERS
    tracking = [c for c in redis_lib.Redis.from_url(srv.url).client_list() if "t" in c["flags"]]
    assert len(tracking) >= 2  # several workers answered, each on its own tracked connection


def marker_of(server, user: str) -> str | None:
    """The domain variable `marker` in the answer for `user` (who must not exist)."""
    root = server.answer(D, user)
    assert root.find("section/domain/users/user") is None
    return {v.get("name"): v.get("value") for v in root.iterfind("section/domain/variables/variable")}.get("marker")


def test_every_worker_sees_a_domain_change_in_unknown_user_answers(served):
    """Answers for users SQL does not know carry the domain entry too: a domain change must
    reach them at once, whichever worker answers (SQL's verdict itself may be remembered)."""
    server, _ = served
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    stale = []
    for i in range(60):
        status, _ = server.request("PATCH", f"/api/v1/domains/{D}",
                                   json.dumps({"variable": {"marker": f"m{i}"}}).encode(), headers)
        assert status == 200
        for user in ("ghost", "ghost2"):
            got = marker_of(server, user)
            if got != f"m{i}":
                stale.append((i, user, got))
    assert stale == []
