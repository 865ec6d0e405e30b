"""Text extraction: the bytes of an uploaded document become plain text for chunking.

:func:`check_content` first checks that the object is the document that was declared (its size,
its type's magic bytes, UTF-8 for text types); :func:`extract_text` then turns each allowed type
into readable text with paragraph breaks kept and runs of spaces collapsed. Every failure is an
:class:`ExtractionError` whose message is written for the document's owner: it becomes the
document's ``error``, so it never carries a stack trace, an internal name or a path.

Only the standard library is imported here; pypdf is imported when a PDF is extracted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

ALLOWED_TYPES = (
    "text/plain",
    "text/markdown",
    "text/html",
    "text/csv",
    "application/json",
    "application/pdf",
)
TEXT_TYPES = frozenset(ALLOWED_TYPES) - {"application/pdf"}
PDF_MAGIC = b"%PDF-"

NO_TEXT = "The document contains no text."
PDF_NO_TEXT = "The PDF has no extractable text (is it a scan?)."
PDF_DAMAGED = "The PDF could not be read: it is damaged or not really a PDF."
PDF_ENCRYPTED = "The PDF is password-protected, so its text cannot be read."


class ExtractionError(Exception):
    """The document cannot be turned into text; ``str(error)`` is fit to show its owner."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _media_type(content_type: str) -> str:
    """``"Text/HTML; charset=utf-8"`` → ``"text/html"``."""
    return content_type.split(";", 1)[0].strip().lower()


def _unsupported(content_type: str) -> ExtractionError:
    shown = content_type[:100] or "(none)"
    return ExtractionError(f"Files of type {shown!r} are not supported.")


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise ExtractionError("The file looks binary, not like text.")
    try:
        return data.decode("utf-8-sig")  # a UTF-8 byte order mark is accepted and dropped
    except UnicodeDecodeError:
        raise ExtractionError("The file is not valid UTF-8 text.") from None


def check_content(data: bytes, *, declared_type: str, declared_size: int) -> None:
    """Check that ``data`` is the document that was declared, before extracting it.

    ``declared_size`` is a maximum (the upload form allows up to it, as the contract says): a
    smaller file is fine, and its real size is recorded. Raises :class:`ExtractionError` when
    the file is larger than ``declared_size``, when a PDF
    lacks the ``%PDF-`` magic bytes, or when a text type holds NUL bytes or invalid UTF-8.
    """
    media_type = _media_type(declared_type)
    if media_type not in ALLOWED_TYPES:
        raise _unsupported(declared_type)
    if len(data) > declared_size:
        raise ExtractionError(
            f"The uploaded file is {len(data):,} bytes, more than the {declared_size:,} declared."
        )
    if media_type == "application/pdf":
        if not data.startswith(PDF_MAGIC):
            raise ExtractionError("The file is not a PDF, although it was declared as one.")
    else:
        _decode(data)


def extract_text(data: bytes, content_type: str) -> str:
    """The readable text of ``data``, whitespace normalized, paragraph breaks kept.

    Plain text and Markdown are kept as they are; HTML loses its tags, scripts, styles and
    comments; CSV becomes one line per row, cells joined with ``", "``; JSON becomes
    ``path: value`` lines (``a.b[0]: 1``); a PDF gives the text of its pages.
    Raises :class:`ExtractionError` when the document cannot be read or holds no text.
    """
    media_type = _media_type(content_type)
    if media_type == "application/pdf":
        return _pdf(data)
    if media_type not in TEXT_TYPES:
        raise _unsupported(content_type)
    text = _decode(data)
    if media_type == "text/html":
        text = _html(text)
    elif media_type == "text/csv":
        text = _csv(text)
    elif media_type == "application/json":
        text = _json(text)
    return _finish(normalize_whitespace(text))


def _finish(text: str) -> str:
    if not text:
        raise ExtractionError(NO_TEXT)
    return text


# Control characters other than tab, newline and carriage return carry no text.
_CONTROL = dict.fromkeys([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces in each line, keep line breaks, keep at most one blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = text.translate(_CONTROL)
    # str.split() also splits on other Unicode line separators; only "\n" marks lines here.
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


# --- HTML ----------------------------------------------------------------------------------

_SKIPPED = frozenset({"script", "style", "noscript", "template"})
_SPACES = re.compile(r"\s+")
_PARAGRAPH = frozenset(
    {
        "address", "article", "aside", "blockquote", "dl", "fieldset", "figure", "footer",
        "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol", "p",
        "pre", "section", "table", "title", "ul",
    }
)  # fmt: skip
_LINE = frozenset(
    {"br", "caption", "dd", "details", "div", "dt", "figcaption", "li", "option", "summary", "tr"}
)
_CELL = frozenset({"td", "th"})
_BREAKS = frozenset({"\n", "\n\n"})


class _HtmlText(HTMLParser):
    """Collects the visible text of an HTML document, block elements on their own lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities arrive unescaped in handle_data
        self.pieces: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0

    def _break(self, tag: str) -> None:
        if tag in _CELL:
            self.pieces.append(" ")
            return
        if tag == "br":
            self.pieces.append("\n")
            return
        kind = "\n\n" if tag in _PARAGRAPH else "\n" if tag in _LINE else ""
        if not kind:
            return  # an inline element: no break
        pieces = self.pieces
        while pieces and pieces[-1] not in _BREAKS and not pieces[-1].strip():
            pieces.pop()  # the indentation between two blocks is not text
        if not pieces or pieces[-1] == "\n\n":
            return
        if pieces[-1] == "\n":
            pieces[-1] = "\n\n" if kind == "\n\n" else "\n"  # </li><li>: still one line break
            return
        pieces.append(kind)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip_depth += 1
            return
        if tag == "pre":
            self._pre_depth += 1
        self._break(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIPPED:  # <br/>: one break, not two
            self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        self._break(tag)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._pre_depth:
            self.pieces.append(data)
        else:
            # Outside <pre>, a line break in the source is just a space.
            self.pieces.append(_SPACES.sub(" ", data))


def _html(text: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(text)
        parser.close()
    except Exception:  # html.parser is lenient; anything it still rejects is not readable HTML
        raise ExtractionError("The HTML could not be read.") from None
    return "".join(parser.pieces)


# --- CSV -----------------------------------------------------------------------------------


def _csv(text: str) -> str:
    import csv
    import io

    delimiter = ","
    try:
        sample = text[:16_384]
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        pass  # one column, or too irregular to tell: the default comma
    lines: list[str] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False):
            # Ragged rows are fine; empty cells are dropped; a cell's own line breaks are not.
            cells = [" ".join(cell.split()) for cell in row]
            line = ", ".join(cell for cell in cells if cell)
            if line:
                lines.append(line)
    except csv.Error as exc:
        raise ExtractionError(f"The CSV could not be read: {exc}.") from None
    return "\n".join(lines)


# --- JSON ----------------------------------------------------------------------------------


def _json(text: str) -> str:
    import json

    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExtractionError(
            f"The JSON is not valid: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except RecursionError:
        raise ExtractionError("The JSON is nested too deeply to read.") from None
    except ValueError:  # an integer of more than 4,300 digits, for one
        raise ExtractionError("The JSON holds a value that cannot be read.") from None
    return "\n".join(_flatten(document))


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _flatten(document: Any) -> Iterator[str]:
    """``path: value`` lines in document order; iterative, so any depth is fine."""
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            children = [(f"{path}.{key}" if path else str(key), v) for key, v in value.items()]
        elif isinstance(value, list):
            children = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        else:
            text = _scalar(value)
            if text.strip():
                yield f"{path}: {text}" if path else text
            continue
        stack.extend(reversed(children))


# --- PDF -----------------------------------------------------------------------------------


def _pdf(data: bytes) -> str:
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    # pypdf logs every repairable oddity of a file; those are not our warnings.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if not data.startswith(PDF_MAGIC):
        raise ExtractionError(PDF_DAMAGED)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            # An empty user password (an owner-only restriction) still opens; anything else not.
            raise ExtractionError(PDF_ENCRYPTED)
        pages = list(reader.pages)
    except ExtractionError:
        raise
    except (FileNotDecryptedError, DependencyError):
        raise ExtractionError(PDF_ENCRYPTED) from None
    except Exception:  # a damaged file fails in many ways, not all of them pypdf's own errors
        raise ExtractionError(PDF_DAMAGED) from None
    if not pages:
        raise ExtractionError(PDF_NO_TEXT)
    texts: list[str] = []
    failures = 0
    for page in pages:
        try:
            texts.append(normalize_whitespace(page.extract_text()))
        except Exception:  # one unreadable page does not lose the others
            failures += 1
    text = "\n\n".join(t for t in texts if t)
    if not text:
        raise ExtractionError(PDF_DAMAGED if failures else PDF_NO_TEXT)
    return text
