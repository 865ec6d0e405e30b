"""``make dr-drill``'s fast form: a scratch system seeded, backed up, destroyed, restored and
verified identical (accounts, documents, chunks, vectors, notifications, files, searches), with
its measured recovery time and data-loss window printed."""

from __future__ import annotations

import pytest

from ops.drill import drill
from tests.support.services import pg_admin_url

pytestmark = pytest.mark.integration


def test_the_drill_restores_everything_and_measures_it(capsys):
    outcome = drill(documents=2, server_url=pg_admin_url())
    printed = capsys.readouterr().out
    assert outcome.passed, outcome.problems
    # Everything a user would check was there to compare, and came back identical
    assert outcome.counts["users"] == 2 and outcome.counts["documents"] == 2
    assert outcome.counts["chunks"] >= 2 and outcome.counts["chunk_vectors"] >= 2
    assert outcome.counts["notifications"] >= 4  # a welcome and a document_ready each
    assert outcome.counts["files"] == 2 and outcome.counts["searches"] == 6
    # And the measured times are printed
    assert "dr-drill PASSED" in printed
    assert "recovery time (destroyed -> verified)" in printed
    assert "data-loss window (backup -> destruction)" in printed
    assert 0 < outcome.data_loss_seconds < outcome.recovery_seconds + 60
