"""Outgoing integrations (webhooks). Not a Django app yet: `ssrf` is the rule on where Boucle may send."""
