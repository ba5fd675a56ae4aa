"""What the matching layer does on signals of the layers below it (connected in MatchingConfig.ready())."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from organisations.models import Site

from .models import Need


def needs_follow_site(*, site: Site, **_signal: Any) -> None:
    """On `organisations.signals.site_moved`: the site's needs carry a copy of its point (matching reads
    one indexed table), which moves with it."""
    Need.objects.filter(site=site).update(location=site.location, updated_at=timezone.now())
