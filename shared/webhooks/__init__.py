"""Outgoing webhooks: endpoints, their secrets, events, deliveries (``docs/webhooks.md``)."""
