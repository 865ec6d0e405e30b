"""Base classes of the API models, and the models every service shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """A request body: unknown fields are rejected with 422. Strings are kept as sent
    (a password is never trimmed); fields that want trimming say so."""

    model_config = ConfigDict(extra="forbid")


class PublicModel(BaseModel):
    """A response body: built from ORM objects, never carries an internal field."""

    model_config = ConfigDict(from_attributes=True)


class ProblemError(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem document, as every error response carries it."""

    type: str
    title: str
    status: int
    detail: str
    request_id: str
    errors: list[ProblemError] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "type": "about:blank",
                "title": "Not Found",
                "status": 404,
                "detail": "No such document.",
                "request_id": "4f1c7a3e-0b7d-4e4a-9a51-2d8f3f0d9c11",
            }
        }
    )
