"""The settings the benchmark's gunicorn serves Boucle with: the project's own, plus the framework
floor's route (benchmarks/urls.py). Never used outside `make bench`."""

from config.settings.base import *  # noqa: F403 - the project's settings, unchanged

ROOT_URLCONF = "benchmarks.urls"
