"""Boucle settings: everything comes from the environment (see `.env.example`).

Long because Django reads its settings from one module; each block is headed by the concern it
configures, and every value comes from the environment."""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

from config.env import (
    BASE_DIR,
    database_from_url,
    env_bool,
    env_int,
    env_list,
    env_rate,
    env_str,
    load_dotenv,
)

load_dotenv()

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.postgres",
    "rest_framework",
    # Refresh tokens are recorded (outstanding) and blacklisted once used: rotation, logout, revocation.
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    # Login lockout of the API, the dashboard and the admin (config.login_guard).
    "axes",
    # Domain, lowest layer first: core ← inventory, territories ← organisations ← exchange ← claims
    # ← receipts ← matching ← impact ← integrations ← demo ← api. No domain package imports api or web.
    "core",
    "inventory",
    "territories",
    "organisations",
    "exchange",
    "claims",
    "receipts",
    "matching",
    "impact",
    "integrations",
    "demo",
    "api",
    "web",
]

MIDDLEWARE = [
    # First, so that every log line of a request carries the client's address.
    "config.client_ip.ClientIPMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.security.SecurityHeadersMiddleware",
    "api.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "api.middleware.ProblemNotFoundMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/boucle"))
}
# Web requests: PostgreSQL cancels a statement that runs longer (ms; 0: never), answered 503
# `query_timeout`. Only the connections of the WSGI process get it (config.wsgi): migrations, management
# commands and the Celery workers have none (tasks have time limits instead).
BOUCLE_WEB_STATEMENT_TIMEOUT_MS = env_int("BOUCLE_WEB_STATEMENT_TIMEOUT_MS", 5000)
# Debian 12 ships GDAL 3.6, which cannot block file/network access in spatial references. Boucle never
# hands user-supplied spatial references to GDAL (points arrive as GeoJSON numbers, territories from
# files the operator chooses), so the warning is acknowledged here rather than on every check.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "organisations.User"
# People log in to the dashboard (web/) with a session; the API takes tokens and keys.
LOGIN_URL = "web:login"
# AxesStandaloneBackend refuses a locked-out login before any password is checked; AccountBackend is
# Django's ModelBackend, clearing the account's failures when a login succeeds (config.login_guard).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "config.login_guard.AccountBackend"]
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "web:login"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "boucle",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# French first, English everywhere.
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("French")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / env_str("STATIC_ROOT", "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_URL = "media/"
MEDIA_ROOT = BASE_DIR / env_str("MEDIA_ROOT", "media")

# A body larger than this is refused with 413 in the error shape, uploads included.
BOUCLE_MAX_REQUEST_BYTES = env_int("BOUCLE_MAX_REQUEST_BYTES", 5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = BOUCLE_MAX_REQUEST_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = BOUCLE_MAX_REQUEST_BYTES
# How deep a JSON body may nest arrays and objects (400 json_too_deep beyond): no input of the API
# needs more than a few levels, and Python's parser recurses once per level.
BOUCLE_MAX_JSON_DEPTH = env_int("BOUCLE_MAX_JSON_DEPTH", 32)
# Largest offer photo accepted (413 above); JPEG, PNG and WebP only, at most 8 per offer.
BOUCLE_MAX_PHOTO_BYTES = env_int("BOUCLE_MAX_PHOTO_BYTES", 4 * 1024 * 1024)
# Stock files sent to POST imports/ (CSV or XLSX): largest accepted (413 above; a request is bounded by
# BOUCLE_MAX_REQUEST_BYTES too), and most rows (400 above), so that one file stays one worker's minutes.
BOUCLE_IMPORT_MAX_BYTES = env_int("BOUCLE_IMPORT_MAX_BYTES", 4 * 1024 * 1024)
BOUCLE_IMPORT_MAX_ROWS = env_int("BOUCLE_IMPORT_MAX_ROWS", 50_000)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", " ").strip()
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", " ").strip()
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_FILE_PATH = BASE_DIR / ".local" / "mail"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Boucle <no-reply@boucle.localhost>")
BOUCLE_OPERATOR_EMAIL = env_str("BOUCLE_OPERATOR_EMAIL", "operateur@boucle.localhost")
# The client people use (web or mobile app): links in e-mail notifications point there, never to API
# routes (claims/notifications.py: /claims/{id}, /handovers/{id}).
BOUCLE_CLIENT_URL = env_str("BOUCLE_CLIENT_URL", "http://localhost:3000").rstrip("/")
# Largest radius a need may cover (metres); the database refuses more than 100 km whatever this says.
BOUCLE_MATCH_MAX_RADIUS_M = env_int("BOUCLE_MATCH_MAX_RADIUS_M", 100_000)
# A site must lie in one of the loaded communes (territories/rules.py), or its handovers would count in
# no territorial figure: a point outside all of them is refused (400 site_outside_territories, with a
# hint when latitude and longitude look swapped). True accepts it, with no territory (a deployment whose
# partners have places beyond its territories).
BOUCLE_ALLOW_SITES_OUTSIDE_TERRITORIES = env_bool("BOUCLE_ALLOW_SITES_OUTSIDE_TERRITORIES", False)
# Claims and handovers: days to collect an accepted claim (unless the donor sets a deadline), caps on
# an organisation's open claims (count, and estimated mass in kg), and the days the other party has to
# confirm or dispute a handover, and the parties to reverse one (the operator may at any time).
BOUCLE_PICKUP_DAYS = env_int("BOUCLE_PICKUP_DAYS", 7)
BOUCLE_MAX_OPEN_CLAIMS_PER_ORG = env_int("BOUCLE_MAX_OPEN_CLAIMS_PER_ORG", 20)
BOUCLE_MAX_OPEN_CLAIM_KG = env_int("BOUCLE_MAX_OPEN_CLAIM_KG", 5000)
# Loans (claims/loans.py): days lent after the pickup deadline unless the donor sets a due date, the
# furthest due date from now, and the hours between two reminders of one overdue loan.
BOUCLE_LOAN_DAYS = env_int("BOUCLE_LOAN_DAYS", 14)
BOUCLE_LOAN_MAX_DAYS = env_int("BOUCLE_LOAN_MAX_DAYS", 365)
BOUCLE_LOAN_REMINDER_HOURS = env_int("BOUCLE_LOAN_REMINDER_HOURS", 24)
BOUCLE_HANDOVER_CONFIRM_DAYS = env_int("BOUCLE_HANDOVER_CONFIRM_DAYS", 14)
BOUCLE_HANDOVER_REVERSE_DAYS = env_int("BOUCLE_HANDOVER_REVERSE_DAYS", 30)
# Days a recipient may edit what a collected lot became after first reporting it (then it is fixed).
BOUCLE_OUTCOME_EDIT_DAYS = env_int("BOUCLE_OUTCOME_EDIT_DAYS", 30)
# Sign-ups: days to confirm the e-mail address before the unconfirmed account and organisation are
# deleted; minutes a password-reset code stays valid (Django's setting is in seconds).
BOUCLE_REGISTRATION_CONFIRM_DAYS = env_int("BOUCLE_REGISTRATION_CONFIRM_DAYS", 7)
PASSWORD_RESET_TIMEOUT = 60 * env_int("PASSWORD_RESET_MINUTES", 60)
# When the exact pickup place and the contacts are revealed (claims/selectors/reveal.py): an automatically
# accepted claim shows them from midnight (Paris) this many days before the lot is available; offers
# accept automatically only for recipients with this many handovers vouched for by a donor, and fewer
# than BOUCLE_AUTO_ACCEPT_STRIKES automatic claims in flight plus strikes (claims broken after the
# reveal) in the last BOUCLE_AUTO_ACCEPT_STRIKE_DAYS days; reaching the cap suspends it, operator told.
BOUCLE_REVEAL_LEAD_DAYS = env_int("BOUCLE_REVEAL_LEAD_DAYS", 1)
BOUCLE_AUTO_ACCEPT_MIN_HANDOVERS = env_int("BOUCLE_AUTO_ACCEPT_MIN_HANDOVERS", 1)
BOUCLE_AUTO_ACCEPT_STRIKES = env_int("BOUCLE_AUTO_ACCEPT_STRIKES", 3)
BOUCLE_AUTO_ACCEPT_STRIKE_DAYS = env_int("BOUCLE_AUTO_ACCEPT_STRIKE_DAYS", 30)

# Reverse proxies in front of the application, each appending to X-Forwarded-For (docker-compose.yml: 1).
# 0: the header is ignored and the client is the connection's peer. Every rate limit, the login lockout
# and the logs take the client's address from it (config.client_ip).
BOUCLE_TRUSTED_PROXIES = env_int("BOUCLE_TRUSTED_PROXIES", 0)

# Webhook URLs (integrations/ssrf.py): Boucle sends only to public addresses. True lets loopback through
# too (127.0.0.0/8, ::1, localhost), for tests and local development; never private or metadata ranges.
BOUCLE_WEBHOOKS_ALLOW_LOOPBACK = env_bool("BOUCLE_WEBHOOKS_ALLOW_LOOPBACK", False)
# Delivery (integrations/services.py): bounded connect and read times and the part of an answer kept,
# the waits between attempts after a failure (about three days in all, each ±20 %), how long a worker
# holds a message it is sending (a killed worker's message is sent again after it), and how often the
# sweep catches up on events and messages a stopped Redis or worker left behind.
BOUCLE_WEBHOOK_CONNECT_TIMEOUT_SECONDS = env_int("BOUCLE_WEBHOOK_CONNECT_TIMEOUT_SECONDS", 5)
BOUCLE_WEBHOOK_READ_TIMEOUT_SECONDS = env_int("BOUCLE_WEBHOOK_READ_TIMEOUT_SECONDS", 10)
BOUCLE_WEBHOOK_RESPONSE_CAP_BYTES = env_int("BOUCLE_WEBHOOK_RESPONSE_CAP_BYTES", 2048)
BOUCLE_WEBHOOK_RETRY_SCHEDULE_SECONDS = [
    int(value)
    for value in env_list(
        "BOUCLE_WEBHOOK_RETRY_SCHEDULE_SECONDS", "5,300,1800,7200,18000,36000,50400,72000,86400"
    )
]
BOUCLE_WEBHOOK_LEASE_SECONDS = env_int("BOUCLE_WEBHOOK_LEASE_SECONDS", 60)
BOUCLE_WEBHOOK_SWEEP_SECONDS = env_int("BOUCLE_WEBHOOK_SWEEP_SECONDS", 30)
# A secret rotation: hours the previous secret keeps signing alongside the new one (default, most).
BOUCLE_WEBHOOK_ROTATION_OVERLAP_HOURS = env_int("BOUCLE_WEBHOOK_ROTATION_OVERLAP_HOURS", 24)
BOUCLE_WEBHOOK_ROTATION_MAX_OVERLAP_HOURS = 7 * 24

# API rate limits (api.throttling), "count/period" (300/min, 5/15min, 100/h; "none": no limit), in
# Redis. Every request spends from its client address's budget and from its caller's: a person's, an API
# key's, or an anonymous caller's (per address); search and statistics have a budget of their own on top;
# the auth routes only one per address. Over budget: 429 with Retry-After.
BOUCLE_RATES = {
    "ip": env_rate("BOUCLE_RATE_IP", "1200/min"),
    "user": env_rate("BOUCLE_RATE_USER", "300/min"),
    "api_key": env_rate("BOUCLE_RATE_API_KEY", "600/min"),
    "anon": env_rate("BOUCLE_RATE_ANON", "60/min"),
    "search": env_rate("BOUCLE_RATE_SEARCH", "60/min"),
    "stats": env_rate("BOUCLE_RATE_STATS", "30/min"),
    "schema": env_rate("BOUCLE_RATE_SCHEMA", "10/min"),
    "auth": env_rate("BOUCLE_RATE_AUTH", "30/min"),
}

# Login lockout (config.login_guard, on django-axes; the same for the API, the dashboard and the admin):
# failed logins per account and address, per account, per address. The failure that reaches a tier's
# count locks what it counts for its period (429, Retry-After), the right password included.
BOUCLE_LOGIN_FAILURES_ACCOUNT_IP = env_rate("BOUCLE_LOGIN_FAILURES_ACCOUNT_IP", "5/15min")
BOUCLE_LOGIN_FAILURES_ACCOUNT = env_rate("BOUCLE_LOGIN_FAILURES_ACCOUNT", "20/h")
BOUCLE_LOGIN_FAILURES_IP = env_rate("BOUCLE_LOGIN_FAILURES_IP", "100/h")
AXES_HANDLER = "config.login_guard.LoginGuardHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username", "ip_address"]  # the three tiers
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip"
AXES_USERNAME_CALLABLE = "config.login_guard.login_username"
AXES_LOCKOUT_CALLABLE = "config.login_guard.lockout_response"
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Attempts live in Redis, not in django-axes' tables: nothing to show in the admin.
AXES_ENABLE_ADMIN = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerJWTAuthentication",
        "api.authentication.ApiKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.IsAuthenticatedActor"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.negotiation.StrictContentNegotiation",
    # JSON bodies; multipart only where a file is uploaded (offer photos set it on their view): a form
    # cannot carry the nested objects and nulls the JSON bodies have, so the schema must not offer one.
    "DEFAULT_PARSER_CLASSES": ["api.parsers.BoundedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.CursorPage",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "api.schema.BoucleAutoSchema",
    "EXCEPTION_HANDLER": "api.errors.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.AddressThrottle",
        "api.throttling.AnonymousThrottle",
        "api.throttling.PersonThrottle",
        "api.throttling.ApiKeyThrottle",
        "api.throttling.CostlyViewThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": BOUCLE_RATES,
    # For any DRF throttle that keeps DRF's own get_ident(); Boucle's use config.client_ip.
    "NUM_PROXIES": BOUCLE_TRUSTED_PROXIES,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 30)),
    # Refresh tokens rotate: each is good for one refresh (or one logout) and the answer carries the
    # next one, so 14 days is how long an app may stay unused, not how long a stolen token works.
    # Presenting a used one again ends every session of the account. api.authentication does the
    # rotation itself (under a lock on the token's record); the two flags say the same to simplejwt.
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "SIGNING_KEY": SECRET_KEY,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Boucle API",
    "DESCRIPTION": (
        "Boucle: a local circular-economy resource exchange (Roubaix, Métropole Européenne de Lille). "
        "Firms post surplus, associations and projects claim it, every confirmed handover is recorded, "
        "and the city pulls reuse statistics.\n\n"
        "Errors use one shape, RFC 9457 problem details (`application/problem+json`): see the "
        "`Problem` component. People authenticate with `Authorization: Bearer <JWT>`, integrations with "
        "`Authorization: Api-Key <key>`. Send `Accept-Language: fr` or `en`.\n\n"
        "Rate limits: every request spends from its client address's budget and from its caller's "
        "(a person's, an API key's, or an anonymous caller's per address); search and statistics have "
        "a stricter budget of their own on top, and the auth routes one per address. A spent budget "
        "answers 429 `throttled` with `Retry-After` (seconds) and `retry_after_s`. Logging in is also "
        "locked out after repeated failures for the account from one address, for the account from "
        "anywhere, and for the address: 429 `login_locked`, with `Retry-After`, even for the right "
        "password. The operator sets the limits; their defaults are in the README."
    ),
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    # Offline: no badge fetched from validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "DEFAULT_GENERATOR_CLASS": "api.schema.BoucleSchemaGenerator",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_problem_responses",
        "api.schema.add_links",
        "api.schema.add_location_headers",
        "api.schema.add_time_zone_component",
    ],
    "ENUM_NAME_OVERRIDES": {
        "OrganisationKindEnum": "organisations.models.OrganisationKind.choices",
        "RegistrableKindEnum": "organisations.models.SELF_REGISTERED_KIND_CHOICES",
        "MembershipRoleEnum": "organisations.models.MembershipRole.choices",
        "ApiKeyScopeEnum": "organisations.models.ApiKeyScope.choices",
        "UnitEnum": "inventory.models.Unit.choices",
        "OfferStatusEnum": "exchange.models.OfferStatus.choices",
        "OfferModeEnum": "exchange.models.OfferMode.choices",
        "ValuationBasisEnum": "exchange.models.ValuationBasis.choices",
        "TaxReceiptStatusEnum": "api.endpoints.organisations.TAX_RECEIPT_STATUSES",
        "NeedStatusEnum": "matching.models.NeedStatus.choices",
        "NeedSettableStatusEnum": "matching.models.NEED_SETTABLE_STATUS_CHOICES",
        "MatchAlertModeEnum": "matching.models.MatchAlertMode.choices",
        "ConditionEnum": "exchange.models.OfferCondition.choices",
        "ReturnConditionEnum": "claims.models.ReturnCondition.choices",
        "FactorBasisEnum": "inventory.models.FactorBasis.choices",
        "PlausibleMassBasisEnum": "inventory.plausibility.RANGE_BASIS_CHOICES",
        "HealthStatusEnum": ["ok"],
    },
    "SORT_OPERATION_PARAMETERS": True,
    "DISABLE_ERRORS_AND_WARNINGS": False,
}

# Celery on Redis; periodic schedules live in code (CELERY_BEAT_SCHEDULE) and are synchronised into
# django-celery-beat's tables by the database scheduler at start.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
# A request must not hang when Redis is down: publishing gives up after a couple of quick retries (the
# change is committed; each consumer's periodic sweep finds what could not be enqueued).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
    "socket_connect_timeout": 2,
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Time limits of a task, seconds: at the soft one the task gets SoftTimeLimitExceeded (its transaction
# rolls back; periodic work resumes at its next run), at the hard one the worker process running it is
# replaced. The daily digests, the monthly reports and file imports legitimately run longer.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360)
CELERY_TASK_ANNOTATIONS = {
    name: {
        "soft_time_limit": max(1800, CELERY_TASK_SOFT_TIME_LIMIT),
        "time_limit": max(1860, CELERY_TASK_TIME_LIMIT),
    }
    for name in (
        "matching.tasks.send_match_digests",
        "impact.tasks.build_monthly_reports",
        "exchange.tasks.process_offer_import",  # up to BOUCLE_IMPORT_MAX_ROWS rows
    )
}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "boucle")
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}
CELERY_BEAT_SCHEDULE["api-prune-idempotency-keys"] = {
    "task": "api.tasks.prune_idempotency_keys",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["exchange-expire-offers"] = {"task": "exchange.tasks.expire_offers", "schedule": 300.0}
CELERY_BEAT_SCHEDULE["matching-sweep-published-offers"] = {
    "task": "matching.tasks.sweep_published_offers",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["matching-send-digests"] = {
    "task": "matching.tasks.send_match_digests",
    "schedule": crontab(hour=7, minute=0),  # CELERY_TIMEZONE: Europe/Paris
}
CELERY_BEAT_SCHEDULE["matching-expire-needs"] = {"task": "matching.tasks.expire_needs", "schedule": 900.0}
CELERY_BEAT_SCHEDULE["claims-send-notification-digests"] = {
    "task": "claims.tasks.send_notification_digests",
    "schedule": crontab(hour=7, minute=15),  # one e-mail per person in daily mode, Europe/Paris
}
CELERY_BEAT_SCHEDULE["claims-expire-no-shows"] = {"task": "claims.tasks.expire_no_shows", "schedule": 900.0}
CELERY_BEAT_SCHEDULE["claims-remind-overdue-loans"] = {
    "task": "claims.tasks.remind_overdue_loans",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["integrations-deliver-webhooks"] = {
    "task": "integrations.tasks.deliver_due",
    "schedule": float(BOUCLE_WEBHOOK_SWEEP_SECONDS),
}
CELERY_BEAT_SCHEDULE["claims-confirm-handovers-tacitly"] = {
    "task": "claims.tasks.confirm_handovers_tacitly",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["organisations-flush-expired-tokens"] = {
    "task": "organisations.tasks.flush_expired_tokens",
    "schedule": crontab(hour=3, minute=30),  # expired refresh tokens and their blacklist entries
}
CELERY_BEAT_SCHEDULE["organisations-prune-unconfirmed-registrations"] = {
    "task": "organisations.tasks.prune_unconfirmed_registrations",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["organisations-remind-pending-verifications"] = {
    "task": "organisations.tasks.remind_pending_verifications",
    "schedule": crontab(hour=9, minute=0),  # the operator's morning list of organisations to verify
}
CELERY_BEAT_SCHEDULE["impact-build-monthly-reports"] = {
    "task": "impact.tasks.build_monthly_reports",
    "schedule": crontab(day_of_month=1, hour=6, minute=0),  # last month's reports, 06:00 Europe/Paris
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every line names the client's address while a request runs (config.client_ip), `-` otherwise.
    "filters": {"client_ip": {"()": "config.client_ip.ClientIPLogFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(client_ip)s] %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["client_ip"]}
    },
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
