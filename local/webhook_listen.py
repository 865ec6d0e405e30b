"""``make webhook-listen``: a webhook receiver on loopback that verifies every delivery.

    WEBHOOK_SECRET=whsec_... make webhook-listen [WEBHOOK_PORT=9000]

Register ``http://127.0.0.1:9000/`` with the runner started as ``WEBHOOKS_ALLOW_LOOPBACK=1 make
local``; each delivery is verified with the ``standardwebhooks`` library (any of the secrets in
``WEBHOOK_SECRET``, space-separated, e.g. both sides of a rotation) and printed, one line each.
The tests use :class:`Receiver` with a scripted answer per call.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Delivery:
    """One call as the receiver saw it."""

    headers: dict[str, str]
    body: str
    verified_with: list[int]  # the indices of the secrets whose signature matched
    received_at: float = field(default_factory=time.time)

    @property
    def payload(self) -> object:
        return json.loads(self.body)


#: ``answer(delivery, count)`` → (status, seconds to wait before answering).
Answer = Callable[[Delivery, int], tuple[int, float]]


def verify(secrets: list[str], body: str, headers: dict[str, str]) -> list[int]:
    """Which of ``secrets`` verify the delivery (the library's own check, timestamp included)."""
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    matched = []
    for index, secret in enumerate(secrets):
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            continue
        matched.append(index)
    return matched


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records and verifies each POST."""

    def __init__(self, *, secrets: list[str] | None = None, port: int = 0) -> None:
        self.secrets: list[str] = list(secrets or [])
        self.deliveries: list[Delivery] = []
        self.answer: Answer = lambda delivery, count: (200, 0.0)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                delivery = Delivery(headers, body, verify(receiver.secrets, body, headers))
                with receiver._lock:
                    receiver.deliveries.append(delivery)
                    count = len(receiver.deliveries)
                status, wait = receiver.answer(delivery, count)
                if wait:
                    time.sleep(wait)
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up (a timeout): nobody is listening any more

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, *, timeout: float = 20.0) -> list[Delivery]:
        """The deliveries once there are ``count`` of them (AssertionError after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.deliveries) >= count:
                    return list(self.deliveries)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.deliveries)} deliveries, not {count}, in {timeout} s")


def main() -> None:
    secrets = os.environ.get("WEBHOOK_SECRET", "").split()
    port = int(os.environ.get("WEBHOOK_PORT", "9000"))
    receiver = Receiver(secrets=secrets, port=port)

    def answer(delivery: Delivery, count: int) -> tuple[int, float]:
        ok = bool(delivery.verified_with) or not secrets
        verdict = "verified" if delivery.verified_with else ("unchecked" if not secrets else "BAD")
        out = f"{delivery.headers.get('webhook-id')} {verdict} {delivery.body}"
        sys.stdout.write(out + "\n")
        sys.stdout.flush()
        return (200 if ok else 401), 0.0

    receiver.answer = answer
    sys.stdout.write(f"listening on {receiver.url} ({len(secrets)} secret(s)); Ctrl-C stops\n")
    sys.stdout.flush()
    with receiver:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
