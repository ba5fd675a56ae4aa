from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MatchingConfig(AppConfig):
    name = "matching"
    verbose_name = _("Needs and matches")

    def ready(self) -> None:
        from core.events import event_subscribe
        from organisations.signals import site_moved

        from .receivers import needs_follow_site

        # The offers layer records `offer.published` without knowing about matching (outbox).
        event_subscribe("offer.published", "matching.tasks.match_published_offer")
        # A site's needs carry a copy of its point; the organisations layer announces a move (signal).
        site_moved.connect(needs_follow_site, dispatch_uid="matching.needs_follow_site")
