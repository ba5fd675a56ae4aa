"""What the offers layer does on signals of the layers below it (connected in ExchangeConfig.ready())."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from organisations.models import Site

from .models import Offer


def offers_follow_site(*, site: Site, **_signal: Any) -> None:
    """On `organisations.signals.site_moved`: the site's offers carry a copy of its points (search reads
    one indexed table), exact and approximate, which move with it."""
    Offer.objects.filter(site=site).update(
        location=site.location, public_location=site.public_location, updated_at=timezone.now()
    )
