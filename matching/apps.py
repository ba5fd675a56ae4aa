from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MatchingConfig(AppConfig):
    name = "matching"
    verbose_name = _("Needs and matches")

    def ready(self) -> None:
        from core.events import event_subscribe

        # The offers layer records `offer.published` without knowing about matching (outbox).
        event_subscribe("offer.published", "matching.tasks.match_published_offer")
