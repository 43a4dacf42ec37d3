"""An API call that needs Redis while Redis is down (or a Sentinel failover has no master yet)
answers 503 `redis_unavailable` in the JSON error shape, never 500."""
import pytest

from tests.support.net import HeldPort


def _app_on(app, settings, redis_url):
    from app import create_app

    s = type(settings)(**{**settings.__dict__, "redis_url": redis_url})
    try:
        return create_app(s, TESTING=True)
    finally:
        app.extensions["celery"].set_current()      # the session app's Celery again
        app.extensions["celery"].set_default()


@pytest.mark.parametrize("kind", ["plain", "sentinel"])
@pytest.mark.parametrize("path", ["/api/v1/calls", "/api/v1/domains/example.com/registrations"])
def test_reads_that_need_redis_answer_503(app, settings, tokens, kind, path):
    with HeldPort() as dead, HeldPort() as dead2:  # bound, never listening: refused
        url = (dead.url() if kind == "plain" else
               f"redis+sentinel://127.0.0.1:{dead.port},127.0.0.1:{dead2.port}/mymaster/0")
        r = _app_on(app, settings, url).test_client().get(path, headers=tokens["viewer"])
    assert r.status_code == 503, r.get_data(as_text=True)
    body = r.get_json()
    assert body["error"] == "redis_unavailable"
    assert "Redis is unavailable" in body["message"]
    reason = body["details"]["reason"]
    assert ("MasterNotFoundError" in reason) if kind == "sentinel" else ("Error" in reason)
    assert r.headers["Retry-After"] == "5"
