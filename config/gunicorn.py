"""gunicorn's access log with the client's address as its first field (`%(h)s`), taken behind the
trusted proxies as everywhere else (config.client_ip), not the proxy's own address.

    gunicorn config.wsgi:application --access-logfile - --logger-class config.gunicorn.AccessLogger
"""

from __future__ import annotations

from django.conf import settings
from gunicorn.glogging import Logger

from .client_ip import client_ip_from_meta


class AccessLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # Access lines are written by the workers, once the application (and its settings) is loaded.
        atoms["h"] = client_ip_from_meta(environ, trusted_proxies=settings.BOUCLE_TRUSTED_PROXIES) or "-"
        return atoms
