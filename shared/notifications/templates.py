"""What each kind of notification says: a subject, a plain-text body and an HTML body."""

from __future__ import annotations

import html
from dataclasses import dataclass

from shared.notifications.messages import Kind


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str  # also the in-app body
    html: str


_TEMPLATES: dict[str, tuple[str, str]] = {
    "welcome": ("Welcome to Stratus", "Hello {name}, your Stratus account is ready."),
    "document_ready": (
        "“{title}” is ready",
        "Your document “{title}” has been processed and can now be searched.",
    ),
    "document_failed": (
        "“{title}” could not be processed",
        "Your document “{title}” could not be processed: {error}",
    ),
    "password_reset": (
        "Reset your Stratus password",
        "Someone asked to reset the password of your Stratus account. If it was you, use this "
        "one-time token within 30 minutes:\n\n{token}\n\nIf it was not you, ignore this email: "
        "your password has not changed.",
    ),
    "account_changed": ("Your Stratus account changed", "{change}"),
}

#: Values that go in the email only, never in the in-app record (nor in any log).
SECRET_FIELDS = frozenset({"token"})


def render(kind: Kind, data: dict[str, str], *, for_email: bool) -> Rendered:
    """The notification ``kind`` filled with ``data``; secrets only ``for_email``."""
    subject, body = _TEMPLATES[kind]
    values = {k: v for k, v in data.items() if for_email or k not in SECRET_FIELDS}
    values = _Defaulting(values)
    text = body.format_map(values)
    escaped = _Defaulting({k: html.escape(v) for k, v in values.items()})
    paragraphs = "".join(f"<p>{p}</p>" for p in body.format_map(escaped).split("\n\n"))
    page = f"<!doctype html><html><body>{paragraphs}</body></html>"
    return Rendered(subject=subject.format_map(values), text=text, html=page)


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "(sent by email)" if key in SECRET_FIELDS else ""
