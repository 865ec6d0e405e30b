"""One error taxonomy. Logic raises these; ``shared.platform.http`` maps them to RFC 9457 problems.

Nothing internal ever reaches a client: an exception that is not an :class:`AppError` becomes a
500 problem that says only that something failed, with the request id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"


@dataclass(frozen=True)
class FieldError:
    """One entry of a 422 problem's ``errors``: where the bad input is and what is wrong."""

    loc: tuple[str | int, ...]
    msg: str


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


@dataclass
class Problem:
    """An RFC 9457 problem document as the contract shapes it."""

    status: int
    detail: str
    request_id: str
    title: str = ""
    type: str = "about:blank"
    errors: list[FieldError] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": self.type,
            "title": self.title or HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
            "request_id": self.request_id,
        }
        if self.errors is not None:
            doc["errors"] = [{"loc": list(e.loc), "msg": e.msg} for e in self.errors]
        return doc


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
