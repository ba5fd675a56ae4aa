"""The web process (gunicorn, or `runserver`): the one entry point that serves requests.

Its database connections get `statement_timeout = BOUCLE_WEB_STATEMENT_TIMEOUT_MS`, so that no request
holds a connection and a CPU on a runaway statement; a cancelled one answers 503 `query_timeout`
(api.errors). Migrations, management commands and the Celery workers never import this module and keep
no statement limit."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.db.backends.signals import connection_created

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

application = get_wsgi_application()


def _limit_statements(sender, connection, **kwargs) -> None:
    timeout_ms = settings.BOUCLE_WEB_STATEMENT_TIMEOUT_MS
    if timeout_ms > 0:
        # Once per connection (CONN_MAX_AGE keeps them across requests); in autocommit, so it holds for
        # the whole session.
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{timeout_ms}ms"])


connection_created.connect(_limit_statements, dispatch_uid="boucle-web-statement-timeout")
