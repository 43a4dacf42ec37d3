"""Entry point for `celery -A workers.celery_app worker|beat` and Flower."""
from celery.signals import worker_init, worker_process_init

from app import create_app
from app.runtime import freeze_gc

flask_app = create_app()
celery = flask_app.extensions["celery"]


@worker_init.connect
def _freeze_main(**_kw) -> None:
    """The worker's main process (and, before they fork, what its pool children inherit)."""
    freeze_gc()


@worker_process_init.connect
def _freeze_child(**_kw) -> None:
    """Each prefork child, after the fork (app/runtime.py says why)."""
    freeze_gc()
