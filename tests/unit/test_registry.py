"""The registry is the single source of truth: derived artefacts must agree with it."""

from __future__ import annotations

from functions.openapi import DOC_PATH, build_openapi, render
from functions.registry import discover
from local.events import EVENTS_DIR, event_path, sample_event
from local.events import render as render_event


def test_every_function_folder_is_discovered_with_its_declaration():
    registry = discover()
    names = [entry.name for entry in registry]
    assert "system-health" in names
    entry = registry["system-health"]
    assert entry.kind == "http"
    assert (entry.folder / "handler.py").exists()


def test_the_committed_openapi_document_matches_the_registry():
    # `make openapi` regenerates it; this fails when a route changed without it
    assert DOC_PATH.read_text() == render(build_openapi(discover())), "run `make openapi`"


def test_every_function_has_its_committed_sample_event():
    registry = discover()
    for entry in registry:
        path = event_path(entry)
        assert path.exists(), f"no sample event for {entry.name}: run `make events`"
        assert path.read_text() == render_event(sample_event(entry)), "run `make events`"
    expected = {event_path(entry).name for entry in registry}
    assert {p.name for p in EVENTS_DIR.glob("*.json")} == expected, "stale events: `make events`"


def test_routes_match_as_api_gateway_matches_them():
    registry = discover()
    found = registry.match("GET", "/health")
    assert found is not None and found[0].name == "system-health"
    assert registry.match("POST", "/health") is None
    assert registry.match("GET", "/health/extra") is None
