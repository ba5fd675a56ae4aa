from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self) -> None:
        from core.events import event_subscribe

        from . import tasks  # noqa: F401 (registers the tasks the subscriptions name)
        from .messages import WEBHOOK_EVENTS

        # The layers below record these without knowing about webhooks (outbox); the fan-out runs once
        # the recording transaction has committed, and a periodic sweep catches any it missed.
        for name in WEBHOOK_EVENTS:
            event_subscribe(name, "integrations.tasks.fan_out_events")
