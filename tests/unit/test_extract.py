"""Text extraction and the content check, on real sample files (tests/fixtures/documents)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.documents.extract import (
    ALLOWED_TYPES,
    ExtractionError,
    check_content,
    extract_text,
    normalize_whitespace,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "documents"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def assert_readable(error: ExtractionError) -> None:
    """What a document's owner may see: one plain sentence, nothing internal."""
    message = str(error)
    assert message == error.message
    assert message.endswith(".")
    assert "\n" not in message
    assert "Traceback" not in message
    assert "/" not in message.replace("application/", "").replace("text/", "")
    assert "pypdf" not in message.lower()


def pdf_bytes(*, user_password: str, owner_password: str | None = None, algorithm: str) -> bytes:
    """The two-page fixture rewritten by pypdf, encrypted."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(fixture("two-pages.pdf"))))
    writer.encrypt(user_password, owner_password, algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- check_content ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("sample.html", "text/html"),
        ("sample.csv", "text/csv"),
        ("sample.json", "application/json"),
        ("sample.md", "text/markdown"),
        ("two-pages.pdf", "application/pdf"),
    ],
)
def test_check_content_accepts_the_declared_document(name, content_type):
    data = fixture(name)
    check_content(data, declared_type=content_type, declared_size=len(data))


def test_check_content_rejects_a_size_mismatch():
    # Given an object one byte longer than the document declared
    data = b"hello world"
    # When it is checked
    with pytest.raises(ExtractionError) as caught:
        check_content(data, declared_type="text/plain", declared_size=10)
    # Then the owner reads both sizes
    assert str(caught.value) == "The uploaded file is 11 bytes, more than the 10 declared."
    assert_readable(caught.value)


def test_check_content_accepts_a_file_smaller_than_declared():
    # Given an object shorter than the size declared (a maximum, by the contract)
    data = b"hello"
    # When it is checked, then it passes
    check_content(data, declared_type="text/plain", declared_size=1000)


def test_check_content_formats_large_sizes():
    with pytest.raises(
        ExtractionError, match=r"is 2,000,000 bytes, more than the 1,999,999 declared"
    ):
        check_content(b"a" * 2_000_000, declared_type="text/plain", declared_size=1_999_999)


def test_check_content_rejects_text_declared_as_pdf():
    data = b"Just some text, not a PDF at all."
    with pytest.raises(ExtractionError) as caught:
        check_content(data, declared_type="application/pdf", declared_size=len(data))
    assert "not a PDF" in str(caught.value)
    assert_readable(caught.value)


def test_check_content_rejects_binary_declared_as_text():
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"
    with pytest.raises(ExtractionError) as caught:
        check_content(data, declared_type="text/plain", declared_size=len(data))
    assert str(caught.value) == "The file looks binary, not like text."


def test_check_content_rejects_invalid_utf8():
    data = "café".encode("latin-1")
    with pytest.raises(ExtractionError, match="not valid UTF-8"):
        check_content(data, declared_type="text/csv", declared_size=len(data))


def test_check_content_accepts_a_utf8_bom_and_parameters():
    data = "\ufeffhello".encode()
    check_content(data, declared_type="text/plain; charset=utf-8", declared_size=len(data))
    assert extract_text(data, "text/plain") == "hello"


def test_check_content_rejects_an_unknown_type():
    with pytest.raises(ExtractionError, match="'image/png' are not supported"):
        check_content(b"x", declared_type="image/png", declared_size=1)


# --- extract_text: text types ----------------------------------------------------------------


def test_plain_text_collapses_spaces_and_keeps_paragraphs():
    data = b"  First   line\twith tabs  \r\nsecond line\n\n\n\n\nNew   paragraph.  \n"
    assert extract_text(data, "text/plain") == "First line with tabs\nsecond line\n\nNew paragraph."


def test_markdown_is_kept_as_text():
    text = extract_text(fixture("sample.md"), "text/markdown")
    assert text == (
        "# Release notes\n\nVersion **2.1** adds search.\n\n- Faster ingest\n- Better errors\n\n"
        "See the [docs](https://example.com/docs)."
    )


def test_html_drops_tags_scripts_styles_and_comments():
    # Given a page with a script, a style, a noscript, a template, a comment and entities
    text = extract_text(fixture("sample.html"), "text/html")
    # Then only the visible text is left, entities unescaped, blocks on their own lines
    for hidden in (
        "secretScriptToken",
        "secret-style-rule",
        "color",
        "internal comment",
        "noscriptText",
        "templateText",
        "secretJsonLd",
        "<b>",
        "&amp;",
        "&nbsp;",
    ):
        assert hidden not in text
    assert text == (
        "Invoices & payments\n\n"
        "Overdue invoices\n\n"
        "Invoice 1042 for ACME Corp is overdue — please pay €1,200 <now>.\n\n"
        "First item\nSecond item\n\n"
        "Line one\nLine two\nLine three\n\n"
        "Name Amount\nACME 1200"
    )


def test_html_inline_elements_do_not_split_words():
    text = extract_text(
        b"<p>in<b>voice</b> <i>due</i>&#33;</p><div>a</div><div>b</div>", "text/html"
    )
    assert text == "invoice due!\n\na\nb"


def test_csv_rows_with_quotes_commas_newlines_and_ragged_rows():
    text = extract_text(fixture("sample.csv"), "text/csv")
    assert text.splitlines() == [
        "name, city, note, amount",  # the header row is kept
        'Smith, John, Boston, said "hello" twice, 12.50',
        "Jane Doe, New York, NY, multi line note, 7",
        "Ragged Row, Paris",
        "Extra, Cells, Here, 1, unexpected",
    ]


def test_csv_with_semicolons():
    data = b"name;amount\nACME;1200\nGlobex;300\n"
    assert extract_text(data, "text/csv") == "name, amount\nACME, 1200\nGlobex, 300"


def test_json_is_flattened_to_paths():
    text = extract_text(fixture("sample.json"), "application/json")
    assert text.splitlines() == [
        "invoice.id: 1042",
        "invoice.customer.name: ACME Corp",
        "invoice.customer.tags[0]: priority",
        "invoice.customer.tags[1]: overdue",
        "invoice.lines[0].item: Consulting",
        "invoice.lines[0].amount: 1200.5",
        "invoice.lines[1].item: Travel",
        "invoice.lines[1].amount: null",
        "invoice.lines[1].billable: false",
        "invoice.paid: false",
        "notes: Café ☕ payment reminder",
    ]


def test_json_top_level_list_and_scalar():
    assert extract_text(b'[{"a": 1}, "x"]', "application/json") == "[0].a: 1\n[1]: x"
    assert extract_text(b'"just a string"', "application/json") == "just a string"


def test_json_deeply_nested_is_read():
    data = json.dumps(json.loads("[" * 500 + "1" + "]" * 500)).encode()
    assert extract_text(data, "application/json") == "[0]" * 500 + ": 1"


def test_invalid_json_is_a_readable_error():
    with pytest.raises(ExtractionError) as caught:
        extract_text(b'{"a": 1,, }', "application/json")
    assert str(caught.value).startswith("The JSON is not valid: ")
    assert "line 1, column" in str(caught.value)
    assert_readable(caught.value)


@pytest.mark.parametrize(
    "data",
    [b"[" * 100_000 + b"]" * 100_000, b'{"n": ' + b"9" * 5_000 + b"}"],
    ids=["too-deep", "huge-integer"],
)
def test_unreadable_json_is_a_readable_error(data):
    with pytest.raises(ExtractionError, match=r"^The JSON ") as caught:
        extract_text(data, "application/json")
    assert_readable(caught.value)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"   \n\t\n  ", "text/plain"),
        (b"<html><script>x()</script><!-- c --></html>", "text/html"),
        (b",,,\n, ,\n", "text/csv"),
        (b'{"a": {}, "b": [], "c": ""}', "application/json"),
    ],
)
def test_no_text_is_an_error(data, content_type):
    with pytest.raises(ExtractionError) as caught:
        extract_text(data, content_type)
    assert str(caught.value) == "The document contains no text."


def test_unknown_type_is_an_error():
    with pytest.raises(ExtractionError, match="not supported"):
        extract_text(b"hello", "application/msword")


def test_every_allowed_type_is_extracted():
    samples = {
        "text/plain": b"hi",
        "text/markdown": b"# hi",
        "text/html": b"<p>hi</p>",
        "text/csv": b"hi",
        "application/json": b'{"k": "hi"}',
        "application/pdf": fixture("two-pages.pdf"),
    }
    assert set(samples) == set(ALLOWED_TYPES)
    for content_type, data in samples.items():
        assert "hi" in extract_text(data, content_type)


def test_normalize_whitespace_drops_control_characters():
    assert normalize_whitespace("a\x00b\x07 \u00a0 c\f d") == "ab c\n\nd"


# --- extract_text: PDF -----------------------------------------------------------------------


def test_pdf_text_page_by_page():
    text = extract_text(fixture("two-pages.pdf"), "application/pdf")
    assert text == (
        "Quarterly invoice report\n"
        "Invoice 1042 for ACME Corp is overdue.\n"
        "Payment is due within 30 days.\n\n"
        "Second page: hiking trails\n"
        "The mountain trail is closed in winter."
    )


def test_corrupt_pdf_is_a_readable_error():
    data = fixture("corrupt.pdf")
    check_content(data, declared_type="application/pdf", declared_size=len(data))  # magic is ok
    with pytest.raises(ExtractionError) as caught:
        extract_text(data, "application/pdf")
    assert str(caught.value) == "The PDF could not be read: it is damaged or not really a PDF."
    assert_readable(caught.value)


def test_truncated_pdf_is_a_readable_error():
    with pytest.raises(ExtractionError, match="damaged"):
        extract_text(fixture("two-pages.pdf")[:600], "application/pdf")


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-256"])
def test_password_protected_pdf_is_a_readable_error(algorithm):
    data = pdf_bytes(user_password="secret", algorithm=algorithm)
    with pytest.raises(ExtractionError) as caught:
        extract_text(data, "application/pdf")
    assert str(caught.value) == "The PDF is password-protected, so its text cannot be read."
    assert_readable(caught.value)


def test_pdf_with_only_an_owner_password_is_read():
    data = pdf_bytes(user_password="", owner_password="owner", algorithm="AES-128")
    assert "Invoice 1042" in extract_text(data, "application/pdf")


def test_pdf_without_text_is_reported_as_a_scan():
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(ExtractionError) as caught:
        extract_text(out.getvalue(), "application/pdf")
    assert str(caught.value) == "The PDF has no extractable text (is it a scan?)."


def test_pypdf_is_imported_only_for_pdfs():
    code = (
        "import sys\n"
        "from shared.documents.extract import extract_text\n"
        "extract_text(b'<p>x</p>', 'text/html'); extract_text(b'{\"a\": 1}', 'application/json')\n"
        "extract_text(b'a,b', 'text/csv')\n"
        "assert 'pypdf' not in sys.modules, 'pypdf imported'\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
