"""One error taxonomy. Logic raises these; ``shared.platform.http`` maps them to RFC 9457 problems.

Nothing internal ever reaches a client: an exception that is not an :class:`AppError` becomes a
500 problem that says only that something failed, with the request id.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

PROBLEM_CONTENT_TYPE = "application/problem+json"


class FieldError(BaseModel):
    """One entry of a 422 problem's errors: where the bad input is, and what is wrong with it."""

    loc: tuple[str | int, ...]
    msg: str

    model_config = ConfigDict(frozen=True)


class AppError(Exception):
    """Base of every error that is part of the contract."""

    status: int = 500
    type: str = "about:blank"

    def __init__(
        self,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors

    @property
    def title(self) -> str:
        return HTTPStatus(self.status).phrase


class BadRequest(AppError):
    status = 400


class Unauthorized(AppError):
    status = 401

    def __init__(self, detail: str = "Authentication is required.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status = 403


class NotFound(AppError):
    status = 404


class Conflict(AppError):
    status = 409


class Unprocessable(AppError):
    status = 422


class TooManyRequests(AppError):
    status = 429

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(AppError):
    status = 503


class Problem(BaseModel):
    """An RFC 9457 problem document: the body of every error response."""

    # The one model of it, whoever answers (a function, a refusal before the app runs, API
    # Gateway itself: functions/gateway.py), and the schema the OpenAPI document declares.

    type: str = "about:blank"
    title: str = ""
    status: int
    detail: str
    request_id: str
    errors: list[FieldError] | None = None
    #: Headers the response carries with it (``WWW-Authenticate``, ``Retry-After``); not a field
    #: of the document.
    headers: SkipJsonSchema[dict[str, str]] = Field(default_factory=dict, exclude=True)

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

    @model_validator(mode="after")
    def _title_from_status(self) -> Self:
        if not self.title:
            object.__setattr__(self, "title", HTTPStatus(self.status).phrase)
        return self

    def body(self) -> dict[str, Any]:
        """The document as it is sent (``errors`` only on a 422)."""
        return self.model_dump(mode="json", exclude_none=True)


def problem_for(exc: BaseException, request_id: str) -> Problem:
    """The problem a client sees for ``exc``: its own for an AppError, a bare 500 otherwise."""
    if isinstance(exc, AppError):
        return Problem(
            status=exc.status,
            detail=exc.detail,
            request_id=request_id,
            title=exc.title,
            type=exc.type,
            errors=exc.errors,
            headers=exc.headers,
        )
    return Problem(
        status=500,
        detail=f"Something failed on our side. Quote request id {request_id} when reporting it.",
        request_id=request_id,
    )
