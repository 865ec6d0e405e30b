"""The SES identity notification emails are sent from.

``-c email_domain=example.com`` verifies a whole domain with Easy DKIM (publish the three CNAME
records SES lists for it); otherwise ``-c email_sender=no-reply@example.com`` verifies that one
address (SES mails it a link). A new account's SES is in the sandbox: it sends only to verified
addresses until production access is granted (docs/deploy.md).
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ses as ses
from constructs import Construct

from infra.config import ConfigurationError

#: The sender when the deployer names none: an address nobody can verify, so mail is refused by
#: SES (and the notifications dead-lettered) until a real one is configured.
DEFAULT_SENDER = "no-reply@stratus.example"


class EmailSender(Construct):
    """A verified SES identity and the address mail is sent from."""

    def __init__(
        self, scope: Construct, id_: str, *, sender: str | None, domain: str | None
    ) -> None:
        super().__init__(scope, id_)
        if domain:
            self.sender = sender or f"no-reply@{domain}"
            if not self.sender.endswith(f"@{domain}"):
                raise ConfigurationError(
                    f"email_sender {self.sender!r} is not an address of {domain!r}"
                )
            identity = ses.Identity.domain(domain)
        else:
            self.sender = sender or DEFAULT_SENDER
            identity = ses.Identity.email(self.sender)
        self.identity = ses.EmailIdentity(self, "Identity", identity=identity)

    def grant_send(self, function: lambda_.Function) -> None:
        """``ses:SendEmail`` and ``ses:SendRawEmail`` from this identity only."""
        self.identity.grant_send_email(function)
