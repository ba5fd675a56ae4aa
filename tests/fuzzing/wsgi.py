"""The fuzzed server's entry point: the project's own (config.wsgi), with the Celery tasks registered.
Its settings run tasks in the request (no worker to start); a worker finds the task modules itself,
an eager web process must load them first. A task that fails on fuzzed data then fails the request."""

from config.celery import app as celery_app
from config.wsgi import application

celery_app.loader.import_default_modules()

__all__ = ["application"]
