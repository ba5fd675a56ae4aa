from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    """Server-rendered pages for people (the city's impact dashboard). An HTTP layer like `api`: it reads
    through the domain selectors; no domain package imports it."""

    name = "web"
    verbose_name = _("Dashboard")
