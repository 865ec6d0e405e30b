"""Construct ids derived from declared names."""

from __future__ import annotations

import re


def pascal(name: str) -> str:
    """``"system-health"`` → ``"SystemHealth"``: a readable, stable construct id."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name))
