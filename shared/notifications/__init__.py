"""Notifications: queued by any service, stored in-app and emailed by the notification worker."""
