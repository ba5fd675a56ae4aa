"""Test settings: the base settings with fast hashing, in-memory mail and eager Celery.

Tests still run against real PostgreSQL/PostGIS and Redis; a few tests start a real worker.
"""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-not-for-production-000000000000000000")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
# A separate Redis database, so a running `make run` never shares keys or queues with the tests.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
# The suite runs gunicorn (config.wsgi) on machines busy with other work, where a statement waiting for
# a row lock is load, not a runaway query.
os.environ.setdefault("BOUCLE_WEB_STATEMENT_TIMEOUT_MS", "30000")

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_DEFAULT_QUEUE = "boucle-test"
MEDIA_ROOT = BASE_DIR / ".local" / "test-media"  # noqa: F405
# Each new test client builds the middleware again, and WhiteNoise would index every static file each
# time (~90 ms a client, thousands of clients in the suite); found on request instead, as in development.
WHITENOISE_AUTOREFRESH = True
# The suite shares one Redis and sends many requests from one address (concurrency tests, matrices):
# limits no test reaches by accident. Tests of the limits themselves set low ones (tests/test_throttling.py,
# tests/test_login_lockout.py).
BOUCLE_RATES = dict.fromkeys(BOUCLE_RATES, "100000/min")  # noqa: F405
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": BOUCLE_RATES}  # noqa: F405
BOUCLE_LOGIN_FAILURES_ACCOUNT_IP = BOUCLE_LOGIN_FAILURES_ACCOUNT = BOUCLE_LOGIN_FAILURES_IP = "100000/min"
# Whatever a developer's .env says: tests that deliver to a server on loopback turn it on themselves.
BOUCLE_WEBHOOKS_ALLOW_LOOPBACK = False
