"""The live supervisor console at /console (operators' guide: docs/console.md).

views.py: pages, sign-in, the event stream, the actions (through app/services/actions.py);
sessions.py: token → session cookie, CSRF; model.py: the rows, read from the Redis keys of
docs/redis-keys.md; hub.py: one Redis subscriber per process, coalescing the state's change
feed for every connected console; supervisions.py: who supervises whom.
"""


def register_console(app) -> None:
    from app.console.views import bp

    app.register_blueprint(bp)
