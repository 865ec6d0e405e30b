"""The stateful resources the functions share, other than queues (a queue is declared by the
worker it feeds). The CDK app and the local runner both create exactly these."""

import json

from shared.platform.declare import Bucket, Secret
from shared.platform.keyring import new_secret

BUCKETS: tuple[Bucket, ...] = (Bucket("uploads"),)

SECRETS: tuple[Secret, ...] = (
    Secret(
        "signing-keys",
        description="Access-token signing keys: {current: kid, <kid>: key, ...} (rotate by adding)",
        local_value=new_secret,
        # Deployed with one generated key, k1, current.
        template=(("current", "k1"),),
        generate_key="k1",
    ),
    Secret(
        "cursor-keys",
        description=(
            "Pagination cursor keys: {current: kid, <kid>: key, ...} (rotate by adding); "
            "apart from the token keys, so a listing function can mint no token"
        ),
        local_value=lambda: new_secret("c1"),
        template=(("current", "c1"),),
        generate_key="c1",
    ),
    Secret(
        "webhook-keys",
        description=(
            "Keys that encrypt the webhooks' signing secrets at rest: {current: kid, <kid>: key,"
            " ...} (rotate by adding; keep old kids while secrets they sealed exist)"
        ),
        local_value=lambda: new_secret("w1"),
        template=(("current", "w1"),),
        generate_key="w1",
    ),
    Secret(
        "admin",
        description=(
            "The first admin, created on deploy if no account has its email: {email, password}"
        ),
        # The local runner creates its admin from ADMIN_EMAIL / ADMIN_PASSWORD instead.
        local_value=lambda: json.dumps({"email": "", "password": ""}),
        # Deployed with a generated password and the email of `cdk deploy -c admin_email=...`.
        template=(("email", ""),),
        generate_key="password",
        context=(("email", "admin_email"),),
    ),
)
