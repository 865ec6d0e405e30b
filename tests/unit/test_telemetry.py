"""The business metrics as the local runner serves them: a refused request counts as
RateLimited in the EMF document the function prints, and the collector turns EMF documents into
Prometheus' text format (parsed back here by prometheus_client); its stdout tee keeps EMF lines
off the console and lets every other line through."""

from __future__ import annotations

import io
import json

from prometheus_client.parser import text_string_to_metric_families

from local.telemetry import EmfCollector, EmfTee
from tests.unit.test_http import _refuse, event_for, limited


def _families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_a_rate_limited_request_is_counted_in_the_emf_it_prints(
    monkeypatch, lambda_context, capsys
):
    from shared.platform.observability import metrics

    metrics.clear_metrics()  # what earlier tests added with metrics off is never flushed
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    _refuse(monkeypatch, allowed=False)
    response = limited.handler(event_for("GET", "/limited"), lambda_context)
    assert response["statusCode"] == 429
    emf = [line for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    collector = EmfCollector()
    assert [collector.add_line(line) for line in emf] == [True] * len(emf)
    (sample,) = _families(collector.prometheus())["stratus_rate_limited"].samples
    assert sample.value == 1


def test_emf_documents_become_counters_and_summaries_with_their_dimensions():
    collector = EmfCollector()
    for latency in (10.0, 30.0):
        collector.add(
            {
                "_aws": {
                    "Timestamp": 1,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "Stratus/local",
                            "Dimensions": [["service"]],
                            "Metrics": [
                                {"Name": "SearchLatency", "Unit": "Milliseconds"},
                                {"Name": "SignUps", "Unit": "Count"},
                            ],
                        }
                    ],
                },
                "service": "documents",
                "SearchLatency": [latency],
                "SignUps": [1.0],
            }
        )
    assert not collector.add_line("not json {")
    assert not collector.add_line(json.dumps({"level": "INFO", "message": "no metrics"}))
    families = _families(
        collector.prometheus({"stratus_dead_letter_depth": {(("queue", "ingest"),): 3.0}})
    )
    counter = families["stratus_sign_ups"]
    assert counter.type == "counter"
    (total,) = [s for s in counter.samples if s.name == "stratus_sign_ups_total"]
    assert total.value == 2
    assert total.labels == {"namespace": "Stratus/local", "service": "documents"}
    summary = {s.name: s.value for s in families["stratus_search_latency"].samples}
    assert summary == {"stratus_search_latency_count": 2, "stratus_search_latency_sum": 40}
    (depth,) = families["stratus_dead_letter_depth"].samples
    assert (depth.labels, depth.value) == ({"queue": "ingest"}, 3)


def test_the_tee_drops_emf_lines_and_passes_the_rest():
    out = io.StringIO()
    tee = EmfTee(out)
    tee.write('{"_aws": {"CloudWatchMetrics": []}}\nStratus is running at http://127.0.0.1\n')
    tee.write("partial ")
    tee.write("line\n")
    assert out.getvalue() == "Stratus is running at http://127.0.0.1\npartial line\n"
