"""Test settings: the base settings with fast hashing, in-memory mail and eager Celery.

Tests still run against real PostgreSQL/PostGIS and Redis; a few tests start a real worker.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production-000000000000000000")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
# A separate Redis database, so a running `make run` never shares keys or queues with the tests.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_DEFAULT_QUEUE = "boucle-test"
MEDIA_ROOT = BASE_DIR / ".local" / "test-media"  # noqa: F405
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "1000/min"}}  # noqa: F405
