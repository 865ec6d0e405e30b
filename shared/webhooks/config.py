"""The webhooks' settings: the key ring that encrypts signing secrets, and the knobs the local
stage and the tests turn (loopback receivers, a shorter retry schedule, a shorter timeout)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from shared.platform.settings import ApiSettings, Aws, Database, Observability, Staged

#: How long one delivery may take (connect, send, answer): the contract's 15 s.
TIMEOUT_SECONDS = 15.0


class WebhookKeys(Aws):
    """The ``webhook-keys`` secret: the key ring that encrypts the endpoints' signing secrets."""

    webhook_keys_secret_arn: str = Field(alias="WEBHOOK_KEYS_SECRET_ARN")
    webhook_keys_max_age_seconds: int = Field(default=300, ge=0, alias="WEBHOOK_KEYS_MAX_AGE")


class WebhookPolicy(Staged):
    """Where and how webhooks may be sent.

    ``WEBHOOKS_ALLOW_LOOPBACK=1`` lets ``http://127.0.0.1:<port>`` receivers through (local stage
    only: refused in a deployed one); ``WEBHOOK_RETRY_SCALE`` multiplies the retry delays (tests:
    0.001); ``WEBHOOK_TIMEOUT_SECONDS`` shortens the 15 s timeout (tests)."""

    allow_loopback: bool = Field(default=False, alias="WEBHOOKS_ALLOW_LOOPBACK")
    retry_scale: float = Field(default=1.0, gt=0, le=1.0, alias="WEBHOOK_RETRY_SCALE")
    timeout_seconds: float = Field(
        default=TIMEOUT_SECONDS, gt=0, le=TIMEOUT_SECONDS, alias="WEBHOOK_TIMEOUT_SECONDS"
    )

    @model_validator(mode="after")
    def _loopback_local_only(self) -> Self:
        if self.allow_loopback and self.deployed:
            raise ValueError(f"WEBHOOKS_ALLOW_LOOPBACK is for the local stage, not {self.stage!r}")
        return self

    @property
    def allow_http(self) -> bool:
        """Plain http:// is for the local stage only."""
        return not self.deployed


class WebhookApiSettings(ApiSettings, WebhookPolicy):
    """A webhook route that checks a URL."""


class WebhookSecretSettings(ApiSettings, WebhookPolicy, WebhookKeys):
    """A webhook route that seals a new signing secret."""


class DispatchSettings(Observability, Database, WebhookPolicy, WebhookKeys):
    """The dispatcher: Postgres, the policy and the key ring (it signs)."""


class SenderSettings(Observability, Aws, WebhookPolicy):
    """The sender: no database, no key ring; only its policy and the outcome queue."""


class RecorderSettings(Observability, Database, WebhookPolicy):
    """The recorder: Postgres and the retry schedule's scale."""
