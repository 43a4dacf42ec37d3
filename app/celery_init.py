"""Celery bound to the Flask app: tasks (`workers/tasks/*`, `@shared_task`) run in its context."""
from celery import Celery, Task


def init_celery(app) -> Celery:
    """Create the Celery app for this Flask app and make it the default."""
    settings = app.config["FSCTI"]

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.config_from_object("celeryconfig")
    celery.conf.broker_url = settings.celery_broker_url
    celery.conf.result_backend = settings.celery_result_backend
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
