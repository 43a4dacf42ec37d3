"""Background processes: the Celery app and its tasks, and the event-socket listener."""
