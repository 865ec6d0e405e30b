"""What each kind of notification says: a subject, a plain-text body and an HTML body."""

from __future__ import annotations

import html
import string
from dataclasses import dataclass
from urllib.parse import quote

from shared.notifications.messages import Kind

#: The longest subject a notification may have (the ``notifications.subject`` column). Values a
#: subject quotes (a document's title: up to 300 characters, more in an old message) are
#: shortened, with an ellipsis, so that the subject always fits.
SUBJECT_MAX_LENGTH = 300
ELLIPSIS = "…"


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
        "Someone asked to reset the password of your Stratus account. If it was you, choose a "
        "new password within 30 minutes with the link below, or enter this one-time token on "
        "the reset page:\n\n{token}\n\nIf it was not you, ignore this email: your password "
        "has not changed.",
    ),
    "account_changed": ("Your Stratus account changed", "{change}"),
}

#: Where each email leads in the web app (``APP_URL`` is the base), and what the link says. The
#: reset token travels in the fragment: browsers never send it, so no server or CDN log sees it.
_LINKS: dict[str, tuple[str, str]] = {
    "welcome": ("/login", "Sign in to Stratus"),
    "document_ready": ("/app/documents", "Open your documents"),
    "document_failed": ("/app/documents", "Open your documents"),
    "password_reset": ("/reset-password#token={token}", "Choose a new password"),
    "account_changed": ("/app/account", "Review your account"),
}

#: Values that go in the email only, never in the in-app record (nor in any log).
SECRET_FIELDS = frozenset({"token"})


def link_for(kind: Kind, data: dict[str, str], *, app_url: str) -> tuple[str, str]:
    """The web app's URL an email of ``kind`` leads to, and its label."""
    path, label = _LINKS[kind]
    values = {k: quote(v, safe="") for k, v in data.items()}
    return app_url.rstrip("/") + path.format_map(_Defaulting(values)), label


def render(kind: Kind, data: dict[str, str], *, for_email: bool, app_url: str = "") -> Rendered:
    """The notification ``kind`` filled with ``data``; secrets, and the link to the web app
    (under ``app_url``), only ``for_email``."""
    subject, body = _TEMPLATES[kind]
    values = {k: v for k, v in data.items() if for_email or k not in SECRET_FIELDS}
    values = _Defaulting(values)
    text = body.format_map(values)
    escaped = _Defaulting({k: html.escape(v) for k, v in values.items()})
    paragraphs = "".join(f"<p>{p}</p>" for p in body.format_map(escaped).split("\n\n"))
    if for_email and app_url:
        url, label = link_for(kind, data, app_url=app_url)
        text += f"\n\n{label}: {url}"
        paragraphs += f'<p><a href="{html.escape(url)}">{html.escape(label)}</a></p>'
    page = f"<!doctype html><html><body>{paragraphs}</body></html>"
    return Rendered(subject=_subject(subject, values), text=text, html=page)


def _subject(template: str, values: _Defaulting) -> str:
    """``template`` filled with ``values``, each quoted value shortened to its share of what
    :data:`SUBJECT_MAX_LENGTH` leaves once the template's own text is counted."""
    subject = template.format_map(values)
    if len(subject) <= SUBJECT_MAX_LENGTH:
        return subject
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    share = max(1, (SUBJECT_MAX_LENGTH - len(template.format_map(_Defaulting()))) // len(names))
    short = _Defaulting(values)
    for name in names:
        value = values[name]
        if len(value) > share:
            short[name] = value[: share - len(ELLIPSIS)] + ELLIPSIS
    return template.format_map(short)[:SUBJECT_MAX_LENGTH]


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "(sent by email)" if key in SECRET_FIELDS else ""
