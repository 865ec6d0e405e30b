"""Every log line a test run writes, collected, and the secrets and personal data that must
never be in one: passwords, argon2 hashes, access tokens (JWTs), refresh and reset tokens,
emails, presigned signatures, tracebacks and SQL parameters."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from tests.support.api import ADMIN_PASSWORD, PASSWORD

#: What gives a secret away, by name. The test accounts' passwords are known; every other
#: secret has a recognisable form.
PATTERNS: dict[str, re.Pattern[str]] = {
    "password": re.compile("|".join(re.escape(p) for p in (PASSWORD, ADMIN_PASSWORD))),
    "argon2 hash": re.compile(r"\$argon2(?:id|i|d)\$"),
    "access token (JWT)": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\."),
    # secrets.token_urlsafe(32): refresh and password-reset tokens
    "opaque token": re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"),
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"),
    "presigned signature": re.compile(r"(?i)x-amz-signature|x-amz-credential|signature="),
    "traceback": re.compile(r"Traceback \(most recent call last\)"),
    "SQL parameters": re.compile(r"\[parameters: |\[SQL: "),
}


def leaks(lines: list[str]) -> list[str]:
    """``kind: line`` for each line holding something of :data:`PATTERNS` (cut to 300 chars)."""
    found = []
    for line in lines:
        for kind, pattern in PATTERNS.items():
            if pattern.search(line):
                found.append(f"{kind}: {line[:300]}")
    return found


#: The function logs of the runners the e2e suites start (``<state dir>/functions.log``): with
#: each function in its own processes (local/isolation.py), their lines are written there, not
#: through this process's loggers.
RUNNER_LOGS: list[Path] = []


class LogCollector(logging.Handler):
    """A handler keeping every record it sees, formatted as its logger's own handler would (the
    functions' Powertools JSON) or plainly, message and exception text included."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted still counts, as it came
            text = f"{record.getMessage()} {record.exc_text or ''}"
        with self._guard:
            self.lines.append(text)

    def everything(self) -> list[str]:
        """What this process logged, and every line of the runners' function logs."""
        lines = list(self.lines)
        for path in RUNNER_LOGS:
            if path.exists():
                lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
        return lines

    def install(self) -> None:
        """Collect from the root logger and from the functions' logger (which may not
        propagate), each formatted with its own formatter."""
        from shared.platform.observability import logger

        self.setFormatter(_Both(logger.registered_formatter))
        logging.getLogger().addHandler(self)
        powertools = logging.getLogger(logger.name)
        if not powertools.propagate:
            powertools.addHandler(self)

    def uninstall(self) -> None:
        from shared.platform.observability import logger

        logging.getLogger().removeHandler(self)
        logging.getLogger(logger.name).removeHandler(self)


class _Both(logging.Formatter):
    """The Powertools JSON line plus the plain message and traceback, so that nothing a
    formatter would drop escapes the scan."""

    def __init__(self, powertools: logging.Formatter) -> None:
        super().__init__()
        self.powertools = powertools

    def format(self, record: logging.LogRecord) -> str:
        plain = super().format(record)
        try:
            return f"{self.powertools.format(record)} {plain}"
        except Exception:
            return plain
