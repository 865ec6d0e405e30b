"""The Notifications service's email client: Amazon SES (locally, SES under moto)."""

from __future__ import annotations

from shared.notifications.templates import Rendered
from shared.platform import aws
from shared.platform.settings import Email, get_settings


def send(to: str, rendered: Rendered) -> None:
    """Send ``rendered`` (subject, text and HTML) to ``to`` from the configured sender."""
    aws.client("ses").send_email(
        Source=get_settings(Email).email_sender,
        Destination={"ToAddresses": [to]},
        Message={
            "Subject": {"Data": rendered.subject, "Charset": "UTF-8"},
            "Body": {
                "Text": {"Data": rendered.text, "Charset": "UTF-8"},
                "Html": {"Data": rendered.html, "Charset": "UTF-8"},
            },
        },
    )
