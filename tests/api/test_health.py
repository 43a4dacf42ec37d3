import redis


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json == {"status": "ok"}


def test_readyz_reports_sql_and_redis(client):
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json["checks"] == {"sql": "ok", "redis": "ok"}


def test_readyz_is_503_when_redis_is_unreachable(app, settings):
    from app import create_app

    s = type(settings)(**{**settings.__dict__, "redis_url": "redis://127.0.0.1:1/0"})
    other = create_app(s, TESTING=True)
    r = other.test_client().get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"]["sql"] == "ok"
    assert r.json["checks"]["redis"].startswith("error")
