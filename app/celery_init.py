"""Celery bound to the Flask app: tasks (`workers/tasks/*`, `@shared_task`) run in its context."""
from celery import Celery, Task

from app import kombu_sentinel


def init_celery(app) -> Celery:
    """Create the Celery app for this Flask app and make it the default."""
    settings = app.config["FSCTI"]

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object("celeryconfig")
    # redis+sentinel:// URLs become kombu's sentinel transport (app.kombu_sentinel)
    celery.conf.update(kombu_sentinel.celery_conf(settings.celery_broker_url,
                                                  settings.celery_result_backend))
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
