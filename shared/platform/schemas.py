"""Base classes of the API models (request and response bodies). The error document is
``shared.platform.errors.Problem``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """A request body: unknown fields are rejected with 422. Strings are kept as sent
    (a password is never trimmed); fields that want trimming say so."""

    model_config = ConfigDict(extra="forbid")


class PublicModel(BaseModel):
    """A response body: built from ORM objects, never carries an internal field."""

    model_config = ConfigDict(from_attributes=True)
