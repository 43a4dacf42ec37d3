"""Entry point for `celery -A workers.celery_app worker|beat` and Flower."""
import os

from celery.signals import worker_init, worker_process_init, worker_process_shutdown, worker_shutdown

from app import create_app
from app.metrics import process as metrics_process
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


@worker_process_shutdown.connect
def _child_gone(pid=None, **_kw) -> None:
    """A prefork child ends: its live gauges leave the metrics sums (app/metrics/process.py)."""
    metrics_process.mark_dead(pid or os.getpid())


@worker_shutdown.connect
def _main_gone(**_kw) -> None:
    metrics_process.mark_dead(os.getpid())
