"""``FRONTEND_ORIGIN``: an origin exactly as a browser sends it, or nothing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.platform.settings import Cors


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example.com",
        "http://localhost:5173",
        "http://127.0.0.1:8080",
        "http://[::1]:3000",
        "https://xn--bcher-kva.example",
    ],
)
def test_an_origin_is_accepted_as_given(origin, monkeypatch):
    monkeypatch.setenv("FRONTEND_ORIGIN", origin)
    assert Cors().frontend_origin == origin


def test_unset_or_empty_means_no_cors(monkeypatch):
    monkeypatch.delenv("FRONTEND_ORIGIN", raising=False)
    assert Cors().frontend_origin is None
    monkeypatch.setenv("FRONTEND_ORIGIN", "")
    assert Cors().frontend_origin is None


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example.com/",  # a path, even a bare slash, is never in an Origin header
        "https://app.example.com/app",
        "https://app.example.com?x=1",
        "https://app.example.com#top",
        "app.example.com",  # no scheme
        "ftp://app.example.com",
        "https://App.Example.com",  # browsers send it lowercase, and the match is verbatim
        "https://app.example.com:443",  # ... and without the default port
        "http://localhost:80",
        "https://app.example.com:99999",
        "https://app.example.com:0",
        "https://user@app.example.com",
        "https://app.example.com,https://other.example.com",
        "*",
        "null",
        " https://app.example.com",
    ],
)
def test_anything_but_an_origin_is_refused(origin, monkeypatch):
    monkeypatch.setenv("FRONTEND_ORIGIN", origin)
    with pytest.raises(ValidationError, match="FRONTEND_ORIGIN"):
        Cors()
