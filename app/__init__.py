"""fscti: FreeSWITCH directory, live state and supervisor actions.

`create_app()` (app/factory.py) is the one factory used by gunicorn (web), Celery (worker/beat),
the listener, the Flask CLI and the tests. It is imported on first use (`from app import
create_app`, `app:create_app()`), not with the package: a process that needs only settings, Redis
and its own modules (the replica, workers/replica.py) does not load Flask, SQLAlchemy and the API.
"""


def __getattr__(name: str):
    if name == "create_app":
        from app.factory import create_app

        return create_app
    raise AttributeError(f"module 'app' has no attribute {name!r}")
