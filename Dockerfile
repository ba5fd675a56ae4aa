# Boucle, production image: gunicorn serves config.wsgi:application; the same image runs the Celery
# worker and beat (see docker-compose.yml). Static files are collected and translations compiled at
# build time; whitenoise serves the static files.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production

# GeoDjango's runtime libraries (GDAL, GEOS, PROJ), gettext for compilemessages, pg_isready.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        gdal-bin libgdal32 libgeos-c1v5 libproj25 gettext postgresql-client fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 boucle
WORKDIR /app

COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY . .

# Build-time only values: the settings module needs a secret key and a host to load; neither is kept.
RUN DJANGO_SETTINGS_MODULE=config.settings.base \
    DJANGO_SECRET_KEY=build-only-not-a-secret \
    python manage.py collectstatic --noinput -v 0 \
    && DJANGO_SETTINGS_MODULE=config.settings.base \
    DJANGO_SECRET_KEY=build-only-not-a-secret \
    python manage.py compilemessages -v 0 \
    && mkdir -p /app/media \
    && chown -R boucle:boucle /app/media

USER boucle
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-", "--logger-class", "config.gunicorn.AccessLogger"]
