"""The timing of a queue's work, derived in one place: nothing claimed can be stuck for good.

A worker whose message carries a *claim* (a row marked "being processed at ``t``") must agree with
its queue on four numbers, or a crash leaves the row stuck:

- the function timeout ``T``: a live invocation holds a claim at most ``T``;
- the queue's visibility timeout ``V``: a message received at ``r`` comes back at ``r + V`` when
  its invocation died (``V >= 3T``: AWS advises six times);
- the claim's staleness ``S = V / 2``: a claim older than ``S`` may be taken over. A live
  worker's claim is at most ``T < S`` old, and when the message comes back the dead worker's
  claim is at least ``V - T >= S`` old, so the redelivery always takes it over;
- ``maxReceiveCount`` ``N``: after ``N`` receives the message goes to the dead-letter queue, so
  the worker's ``N``-th attempt is its last, and it ends the row for good (``failed``).

A row still claimed or waiting after :attr:`Redelivery.stuck_after` (one full cycle, ``V + T``,
without progress) lost its message: the maintenance job queues it again, or fails it once its
attempts are spent. :class:`shared.platform.worker.QueueWorker` takes its timeout, visibility
timeout and receive count from a ``Redelivery``, and the CDK app and the local runner read them
from the worker, so the template says what the claim assumes (checked in ``tests/infra``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

#: AWS's advice for a queue feeding Lambda: visibility at least six times the function timeout.
VISIBILITY_FACTOR = 6
#: The least visibility factor for which the staleness below is sound.
MIN_VISIBILITY_FACTOR = 3


def default_visibility_timeout(function_timeout_seconds: int) -> int:
    """The visibility timeout of a queue whose worker declares none."""
    return VISIBILITY_FACTOR * function_timeout_seconds


@dataclass(frozen=True)
class Redelivery:
    """A worker's timeout and receive count, and what follows from them."""

    function_timeout_seconds: int
    max_receive_count: int = 5
    visibility_factor: int = VISIBILITY_FACTOR

    def __post_init__(self) -> None:
        if self.function_timeout_seconds < 1:
            raise ValueError("function_timeout_seconds must be at least 1")
        if self.max_receive_count < 1:
            raise ValueError("max_receive_count must be at least 1")
        if self.visibility_factor < MIN_VISIBILITY_FACTOR:
            raise ValueError(
                f"visibility_factor must be at least {MIN_VISIBILITY_FACTOR}: a redelivered "
                "message must find the dead worker's claim stale"
            )

    @property
    def visibility_timeout_seconds(self) -> int:
        """``V``: how long a received message stays invisible."""
        return self.visibility_factor * self.function_timeout_seconds

    @property
    def claim_stale_after(self) -> timedelta:
        """``S = V / 2``: older than any live worker's claim, younger than a dead one's when its
        message comes back."""
        return timedelta(seconds=self.visibility_timeout_seconds / 2)

    @property
    def stuck_after(self) -> timedelta:
        """``V + T``: a row unchanged for this long has no message coming for it any more
        (or one held back by a backlog: queueing it again is harmless, the claim dedups)."""
        return timedelta(seconds=self.visibility_timeout_seconds + self.function_timeout_seconds)

    @property
    def max_attempts(self) -> int:
        """The attempts a row gets: as many as its message has receives."""
        return self.max_receive_count
