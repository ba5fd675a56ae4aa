"""Signals of the organisations layer, for the layers above it, which connect their receivers in their
`AppConfig.ready()`: this layer never imports them.

- `site_moved`: a site has a new point. Sent by `organisations.services.site_update`, inside its
  transaction, after the site is saved with its new point (and territory). Keyword argument: `site`,
  the saved `Site`. A receiver's error rolls the move back. Offers (`exchange.receivers`) and needs
  (`matching.receivers`) keep their copy of the point in step on it.
"""

from __future__ import annotations

from django.dispatch import Signal

site_moved = Signal()
