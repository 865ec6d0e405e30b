"""API models of the Auth service."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from shared.auth.passwords import MAX_LENGTH, MIN_LENGTH
from shared.platform.schemas import RequestModel


def normalize_email(value: str) -> str:
    """Emails are compared trimmed and lower-cased."""
    return value.strip().lower()


Email = Annotated[EmailStr, Field(max_length=320), AfterValidator(normalize_email)]
NewPassword = Annotated[str, Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]


class RegisterRequest(RequestModel):
    email: Email
    password: NewPassword
    name: Annotated[str, Field(min_length=1, max_length=200)]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"}
            ]
        }
    )


class LoginRequest(RequestModel):
    email: Annotated[str, Field(min_length=1, max_length=320), AfterValidator(normalize_email)]
    password: Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "ada@example.com", "password": "correct horse battery"}]
        }
    )


class RefreshRequest(RequestModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=512)]

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_token": "<refresh token from login>"}]}
    )


class LogoutRequest(RequestModel):
    refresh_token: Annotated[str | None, Field(default=None, max_length=512)] = None

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"refresh_token": "<refresh token from login>"}]}
    )


class PasswordChange(RequestModel):
    current_password: Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]
    new_password: NewPassword

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "current_password": "correct horse battery",
                    "new_password": "staple battery horse correct",
                }
            ]
        }
    )


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int


# ---- browser session mode (the header and the cookie: shared.platform.http) -------------------


class BrowserSession(BaseModel):
    """A token pair in browser session mode: the refresh token is in the cookie only."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int

    @classmethod
    def of(cls, pair: TokenPair) -> BrowserSession:
        return cls(access_token=pair.access_token, expires_in=pair.expires_in)


class PasswordResetRequest(RequestModel):
    email: Annotated[str, Field(min_length=1, max_length=320), AfterValidator(normalize_email)]

    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ada@example.com"}]})


class PasswordResetConfirm(RequestModel):
    token: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: NewPassword

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"token": "<token from the email>", "new_password": "a new long password"}]
        }
    )
