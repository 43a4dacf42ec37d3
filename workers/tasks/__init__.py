"""Celery tasks, grouped by job: ingest (events → state), actions (supervisor), maintenance."""
