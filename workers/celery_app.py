"""Entry point for `celery -A workers.celery_app worker|beat` and Flower."""
import logging
import os

from celery.signals import worker_init, worker_process_init, worker_process_shutdown, worker_shutdown

from app import create_app, tasknames
from app.metrics import process as metrics_process
from app.runtime import freeze_gc

flask_app = create_app()
celery = flask_app.extensions["celery"]


# Celery logs two INFO lines per task (received, succeeded). An event batch is a task: at
# load that is hundreds of lines a second, each formatted and written by the process that
# should be applying events. Those two lines are dropped for batches only; their retries,
# failures and every other task's lines stay (batches are counted in /metrics instead).
QUIET_TASKS = frozenset({tasknames.INGEST_EVENTS, tasknames.INGEST_BATCHES})
TASK_LOGGERS = ("celery.app.trace", "celery.worker.strategy")


class RoutineTaskLines(logging.Filter):
    """Drops the received/succeeded INFO lines of QUIET_TASKS; passes everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        context = record.args if isinstance(record.args, dict) else None
        return not (context and context.get("name") in QUIET_TASKS)


def quiet_routine_task_lines() -> None:
    for name in TASK_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RoutineTaskLines) for f in logger.filters):
            logger.addFilter(RoutineTaskLines())


@worker_init.connect
def _freeze_main(**_kw) -> None:
    """The worker's main process (and, before they fork, what its pool children inherit)."""
    quiet_routine_task_lines()
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
