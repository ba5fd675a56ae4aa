from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    name = "exchange"

    def ready(self) -> None:
        from organisations.signals import site_moved

        from .receivers import offers_follow_site

        # A site's offers carry a copy of its point; the organisations layer announces a move (signal).
        site_moved.connect(offers_follow_site, dispatch_uid="exchange.offers_follow_site")
