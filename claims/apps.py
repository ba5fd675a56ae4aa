from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ClaimsConfig(AppConfig):
    name = "claims"
    verbose_name = _("Claims and handovers")

    def ready(self) -> None:
        from core.events import event_subscribe

        from .notifications import NOTIFIED_EVENTS
        from .tasks import DEAD_OFFER_EVENTS, SUSPENSION_EVENT

        # The offers layer records these without knowing about claims (outbox).
        for name in DEAD_OFFER_EVENTS:
            event_subscribe(name, "claims.tasks.decline_requests_on_dead_offer")
        # Recorded in the cancelling or expiring transaction; the e-mail goes once it has committed.
        event_subscribe(SUSPENSION_EVENT, "claims.tasks.tell_operator_auto_accept_suspended")
        # E-mails to the people concerned by a claim or a handover (claims/notifications.py).
        for name in NOTIFIED_EVENTS:
            event_subscribe(name, "claims.tasks.notify_people")
