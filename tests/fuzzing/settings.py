"""Settings of the API that Schemathesis fuzzes: the development profile `make run` serves (DEBUG from
the environment, Django's own pages included), with what would only slow the fuzzer down set aside: a
fast password hasher, Celery tasks run in the request (no worker to start) and mail kept in memory.
Rate limits come from the environment, like everything else (tests/fuzzing/harness.py)."""

from config.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
# Schemathesis may register a webhook to some public address: a delivery attempt (eager, in the request)
# gives up at once rather than holding a worker for the default timeouts.
BOUCLE_WEBHOOK_CONNECT_TIMEOUT_SECONDS = 1
BOUCLE_WEBHOOK_READ_TIMEOUT_SECONDS = 1
