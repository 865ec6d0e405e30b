"""API models of the Data service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.platform.schemas import JsonUuid, PublicModel, RequestModel

ContentType = Literal[
    "text/plain", "text/markdown", "text/html", "text/csv", "application/json", "application/pdf"
]
Status = Literal["pending_upload", "queued", "processing", "ready", "failed"]
MAX_TEXT_BYTES = 1024 * 1024
Title = Annotated[str, Field(min_length=1, max_length=300)]


class DocumentCreate(RequestModel):
    title: Title
    filename: Annotated[str, Field(min_length=1, max_length=255)]
    content_type: ContentType
    size_bytes: Annotated[int, Field(ge=1)]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Q3 report",
                    "filename": "q3.pdf",
                    "content_type": "application/pdf",
                    "size_bytes": 48213,
                }
            ]
        }
    )

    @field_validator("filename")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if any(c in value for c in "/\\\x00") or value in {".", ".."}:
            raise ValueError("a file name, without any path")
        return value


class TextDocumentCreate(RequestModel):
    title: Title
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_BYTES)]

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"title": "Meeting notes", "text": "We agreed to ship."}]}
    )

    @field_validator("text")
    @classmethod
    def _at_most_one_mebibyte(cls, value: str) -> str:
        if len(value.encode()) > MAX_TEXT_BYTES:
            raise ValueError("the text is over 1 MiB")
        return value


class DocumentUpdate(RequestModel):
    title: Title

    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Q3 report (final)"}]})


class DocumentPublic(PublicModel):
    id: UUID
    owner_id: UUID
    title: str
    filename: str
    content_type: str
    size_bytes: int
    status: Status
    chunk_count: int
    error: str | None
    created_at: datetime
    updated_at: datetime


class UploadForm(BaseModel):
    """An S3 presigned POST: post ``fields`` plus ``file`` as a multipart form to ``url``."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


class DocumentCreated(BaseModel):
    document: DocumentPublic
    upload: UploadForm


class DocumentsPage(BaseModel):
    items: list[DocumentPublic]
    next_cursor: str | None


class DownloadLink(BaseModel):
    url: str
    expires_at: datetime


class SearchRequest(RequestModel):
    query: Annotated[str, Field(min_length=1, max_length=2000)]
    top_k: Annotated[int, Field(ge=1, le=50)] = 10
    document_ids: Annotated[list[JsonUuid] | None, Field(max_length=100)] = None

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"query": "When is the invoice due?", "top_k": 5}]}
    )

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query has no text")
        return value


class SearchResult(BaseModel):
    document_id: UUID
    title: str
    chunk_index: int
    text: str
    score: float


class SearchResponse(BaseModel):
    results: list[SearchResult]
