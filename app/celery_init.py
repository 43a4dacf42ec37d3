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
    conf = kombu_sentinel.celery_conf(settings.celery_broker_url, settings.celery_result_backend)
    celery.conf.update(conf)
    if "result_backend_transport_options" in conf:
        # As for the broker, CELERY_RESULT_BACKEND in the environment would win over the
        # setting; the backend named on the app itself wins over both.
        celery.backend_cls = conf["result_backend"]
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
