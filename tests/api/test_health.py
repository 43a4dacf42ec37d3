from tests.support.net import HeldPort


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json == {"status": "ok"}


def test_readyz_reports_sql_and_redis(client):
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json["checks"]["sql"] == "ok" and r.json["checks"]["redis"] == "ok"


def test_readyz_is_503_when_redis_is_unreachable(app, settings):
    from app import create_app

    with HeldPort() as dead:  # bound, never listening: refused, and nobody else can take it
        s = type(settings)(**{**settings.__dict__, "redis_url": dead.url()})
        try:
            other = create_app(s, TESTING=True)
        finally:
            app.extensions["celery"].set_current()      # the session app's Celery again: tasks
            app.extensions["celery"].set_default()      # run later must not use the dead Redis
        r = other.test_client().get("/readyz")
    assert r.status_code == 503
    assert r.json["checks"]["sql"] == "ok"
    assert r.json["checks"]["redis"].startswith("error")


def test_readyz_is_degraded_not_503_when_only_the_broker_is_unreachable(app, settings):
    from app import create_app

    with HeldPort() as dead:
        s = type(settings)(**{**settings.__dict__, "celery_broker_url": dead.url()})
        try:
            other = create_app(s, TESTING=True)
        finally:
            app.extensions["celery"].set_current()
            app.extensions["celery"].set_default()
        r = other.test_client().get("/readyz")
        metrics = other.test_client().get("/metrics").get_data(as_text=True)
    assert r.status_code == 200
    assert r.json["status"] == "degraded"
    assert r.json["checks"]["broker"].startswith("error")
    assert r.json["checks"]["sql"] == r.json["checks"]["redis"] == "ok"
    assert 'fscti_dependency_up{dependency="broker"} 0.0' in metrics
    assert "fscti_celery_queue_length{" not in metrics
