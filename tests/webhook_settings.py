"""Settings of the server and worker processes that tests/test_webhooks_live.py starts: the test settings,
with webhooks allowed to the receiving server on loopback (config.settings.test refuses loopback)."""

from config.settings.test import *  # noqa: F403

BOUCLE_WEBHOOKS_ALLOW_LOOPBACK = True
