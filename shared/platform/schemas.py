"""Base classes of the API models (request and response bodies). The error document is
``shared.platform.errors.Problem``.

Request models are strict: a boolean is ``true`` or ``false`` (never ``0``, ``1`` or
``"yes"``), an integer is a JSON integer (never ``5.0``, ``"5"`` or ``true``). Text that is not
valid Unicode or holds NUL never gets this far: ``shared.platform.http`` refuses it while
decoding the request, for every body and query field. Every string field declares its maximum
length (``tests/unit/test_openapi.py`` checks the document).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Strict

#: A UUID sent as a JSON string. Strict models take a ``uuid.UUID`` object only; JSON has none,
#: so this one field type is lax (a well-formed string only: ``uuid.UUID`` still parses it).
JsonUuid = Annotated[uuid.UUID, Strict(False)]


class RequestModel(BaseModel):
    """A request body: unknown fields are rejected with 422, types are strict. Strings are kept
    as sent (a password is never trimmed); fields that want trimming say so."""

    model_config = ConfigDict(extra="forbid", strict=True)


class PublicModel(BaseModel):
    """A response body: built from ORM objects, never carries an internal field."""

    model_config = ConfigDict(from_attributes=True)
