"""A bounded mixed load: sign-ups, logins, uploads (presigned POSTs and text documents),
searches and listings, from a few virtual users at once, for a fixed time, on loopback.

:func:`run` drives a running API and returns a :class:`Report`: throughput, latency
percentiles (p50/p95/p99, over all requests and per operation) and the statuses seen.
:meth:`Report.problems` says what fails the run: any 5xx, any request that got no answer, and
any document not ``ready`` or ``failed`` once the load has stopped and its work had time to
finish. ``python -m tests.load`` (``make load``) starts its own runner and runs the long form;
``tests/e2e/test_system_faults.py`` runs a four-second form in the default suite.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import httpx

PASSWORD = "load test passphrase, long enough"
TEXT = (
    "The harbour committee met on Tuesday. The pier repairs start in spring, the ferry "
    "timetable changes in May and the budget for the lighthouse was approved. "
)
QUERIES = ("pier repairs", "ferry timetable", "lighthouse budget", "committee meeting")
#: How often each operation is picked by a virtual user, once signed up.
MIX = {"search": 30, "list": 20, "upload": 15, "text": 15, "login": 10, "signup": 10}


@dataclass
class Report:
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[str] = field(default_factory=Counter)  # "operation status"
    unanswered: Counter[str] = field(default_factory=Counter)
    documents: dict[str, str] = field(default_factory=dict)  # id → final status

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def problems(self) -> list[str]:
        """What fails the run: 5xx answers, requests with no answer, unsettled documents."""
        found = [f"{n} x {key}" for key, n in self.statuses.items() if key.split()[-1][0] == "5"]
        found += [f"{n} x {key}: no answer" for key, n in self.unanswered.items()]
        stuck = Counter(s for s in self.documents.values() if s not in ("ready", "failed"))
        found += [f"{n} documents left {status}" for status, n in stuck.items()]
        return found

    def render(self) -> str:
        lines = [
            f"{self.requests} requests in {self.seconds:.1f} s: "
            f"{self.requests / self.seconds:.1f} requests/s",
            f"{'operation':<10} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}",
        ]
        every = [x for values in self.latencies.values() for x in values]
        for name, values in [*sorted(self.latencies.items()), ("all", every)]:
            p50, p95, p99 = percentiles(values)
            lines.append(f"{name:<10} {len(values):>6} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f}")
        lines.append(
            "statuses: " + ", ".join(f"{k}: {n}" for k, n in sorted(self.statuses.items()))
        )
        if self.unanswered:
            lines.append("no answer: " + ", ".join(f"{k}: {n}" for k, n in self.unanswered.items()))
        final = Counter(self.documents.values())
        lines.append(
            f"documents: {len(self.documents)} ("
            + ", ".join(f"{k} {n}" for k, n in sorted(final.items()))
            + ")"
        )
        problems = self.problems()
        lines.append("FAILED: " + "; ".join(problems) if problems else "OK: no 5xx, nothing stuck")
        return "\n".join(lines)


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """p50, p95 and p99 of ``values`` (milliseconds), 0 when there are none."""
    if len(values) < 2:
        only = values[0] if values else 0.0
        return only, only, only
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


class _User:
    def __init__(self, base_url: str, report: Report, lock: threading.Lock, seed: int) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.report = report
        self.lock = lock
        self.random = random.Random(seed)
        self.email = ""
        self.token = ""
        self.documents: list[tuple[str, str]] = []  # (document id, its owner's token)

    def call(
        self, operation: str, method: str, url: str, **kwargs: object
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = self.http.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            with self.lock:
                self.report.unanswered[f"{operation} {type(exc).__name__}"] += 1
            return None
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.report.latencies[operation].append(elapsed)
            self.report.statuses[f"{operation} {response.status_code}"] += 1
        return response

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def signup(self) -> None:
        email = f"load-{uuid.uuid4().hex[:12]}@example.com"
        made = self.call(
            "signup",
            "POST",
            "/auth/register",
            json={"email": email, "password": PASSWORD, "name": "Load"},
        )
        if made is not None and made.status_code == 201:
            self.email = email
            self.login()

    def login(self) -> None:
        if not self.email:
            return
        got = self.call(
            "login", "POST", "/auth/login", json={"email": self.email, "password": PASSWORD}
        )
        if got is not None and got.status_code == 200:
            self.token = got.json()["access_token"]

    def upload(self) -> None:
        body = (TEXT * self.random.randint(2, 12)).encode()
        made = self.call(
            "upload",
            "POST",
            "/documents",
            headers=self.headers,
            json={
                "title": "Minutes",
                "filename": "minutes.txt",
                "content_type": "text/plain",
                "size_bytes": len(body),
            },
        )
        if made is None or made.status_code != 201:
            return
        form = made.json()["upload"]
        self.documents.append((made.json()["document"]["id"], self.token))
        started = time.perf_counter()
        try:
            posted = httpx.post(
                form["url"],
                data=form["fields"],
                files={"file": ("m.txt", body, "text/plain")},
                timeout=60,
            )
        except httpx.HTTPError as exc:
            with self.lock:
                self.report.unanswered[f"s3-post {type(exc).__name__}"] += 1
            return
        with self.lock:
            self.report.latencies["s3-post"].append((time.perf_counter() - started) * 1000)
            self.report.statuses[f"s3-post {posted.status_code}"] += 1

    def text(self) -> None:
        made = self.call(
            "text",
            "POST",
            "/documents/text",
            headers=self.headers,
            json={"title": "Note", "text": TEXT * self.random.randint(1, 6)},
        )
        if made is not None and made.status_code == 201:
            self.documents.append((made.json()["id"], self.token))

    def search(self) -> None:
        self.call(
            "search",
            "POST",
            "/search",
            headers=self.headers,
            json={"query": self.random.choice(QUERIES), "top_k": 5},
        )

    def list(self) -> None:
        self.call("list", "GET", "/documents?limit=20", headers=self.headers)

    def loop(self, until: float) -> None:
        self.signup()
        names, weights = zip(*MIX.items(), strict=True)
        while time.monotonic() < until:
            if not self.token:
                self.signup()
                continue
            getattr(self, self.random.choices(names, weights)[0])()

    def settle(self, deadline: float) -> dict[str, str]:
        final: dict[str, str] = {}
        while self.documents and time.monotonic() < deadline:
            for document_id, token in list(self.documents):
                got = self.http.get(
                    f"/documents/{document_id}", headers={"Authorization": f"Bearer {token}"}
                )
                status = got.json()["status"] if got.status_code == 200 else str(got.status_code)
                final[document_id] = status
                if status in ("ready", "failed"):
                    self.documents.remove((document_id, token))
            if self.documents:
                time.sleep(0.5)
        return final


def run(
    base_url: str, *, seconds: float, users: int, settle_seconds: float = 60, seed: int = 11
) -> Report:
    """``users`` virtual users on ``base_url`` for ``seconds``; then every document they made is
    waited for (up to ``settle_seconds``) and its final status recorded."""
    report = Report(seconds=seconds)
    lock = threading.Lock()
    crowd = [_User(base_url, report, lock, seed + n) for n in range(users)]
    started = time.monotonic()
    until = started + seconds
    threads = [threading.Thread(target=u.loop, args=(until,), daemon=True) for u in crowd]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    report.seconds = time.monotonic() - started
    deadline = time.monotonic() + settle_seconds
    for user in crowd:
        report.documents.update(user.settle(deadline))
        user.http.close()
    return report
