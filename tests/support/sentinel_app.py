"""An app (and its settings) whose Redis, broker and result backend are a SentinelCluster."""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager


@contextmanager
def sentinel_app(app, settings, cluster, **overrides):
    """create_app on `cluster` (REDIS_URL db 1, broker and results db 2); the session app's
    Celery is made current again afterwards."""
    from app import create_app

    values = dict(redis_url=cluster.url(1), celery_broker_url=cluster.url(2),
                  celery_result_backend=cluster.url(2))
    values.update(overrides)
    s = dataclasses.replace(settings, **values)
    try:
        other = create_app(s, TESTING=True)
    finally:
        app.extensions["celery"].set_current()
        app.extensions["celery"].set_default()
    try:
        yield other, s
    finally:
        app.extensions["celery"].set_current()
        app.extensions["celery"].set_default()
