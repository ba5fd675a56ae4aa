"""Production settings: the base settings, hardened. Select with DJANGO_SETTINGS_MODULE.

Boucle runs behind a TLS-terminating reverse proxy that sets X-Forwarded-Proto (and strips it from
clients). `manage.py check --deploy --fail-level WARNING` passes with these settings."""

from config.env import env_bool, env_int, env_list, env_str

from .base import *  # noqa: F403

DEBUG = False

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if SECRET_KEY.startswith(("dev-", "django-insecure")) or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
    raise RuntimeError(
        "DJANGO_SECRET_KEY must be a long random value in production (50 characters or more), e.g. "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(64))'"
    )

# No silent default in production: the public host names must be given.
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    raise RuntimeError("DJANGO_ALLOWED_HOSTS must name the public host(s) in production.")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# Container and load-balancer probes speak plain HTTP to the application itself.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
