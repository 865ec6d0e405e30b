"""Chunking: window sizes, overlaps, boundaries, coverage and speed."""

from __future__ import annotations

import itertools
import random
import re
import time

import pytest

from shared.documents.chunking import spans, split

WORDS = re.compile(r"\S+")


def sample_text(chars: int, *, seed: int = 7) -> str:
    """Sentences and paragraphs of made-up words, deterministic for a seed."""
    rng = random.Random(seed)
    vocabulary = [
        "invoice", "payment", "overdue", "customer", "report", "quarter", "a", "of", "the",
        "mountain", "trail", "x", "internationalization", "42", "café", "naïve", "data-driven",
    ]  # fmt: skip
    parts: list[str] = []
    length = 0
    while length < chars:
        sentence = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(2, 25)))
        part = sentence.capitalize() + rng.choice([". ", "! ", "? ", ".\n\n", ", ", " "])
        parts.append(part)
        length += len(part)
    return "".join(parts)[:chars]


def assert_well_formed(text: str, *, size: int, overlap: int) -> list[str]:
    chunks = split(text, size=size, overlap=overlap)
    offsets = spans(text, size=size, overlap=overlap)
    assert len(chunks) == len(offsets)
    # No empty chunk, none longer than size, none with edge whitespace.
    assert all(chunk and len(chunk) <= size and chunk == chunk.strip() for chunk in chunks)
    # Every word of the input is whole in some chunk (here no word is longer than size).
    for match in WORDS.finditer(text):
        assert any(s <= match.start() and match.end() <= e for s, e in offsets), match.group()
    # Chunks are in order, each next one starts after the last one started and no later
    # than where it ended: nothing is skipped.
    for (s1, e1), (s2, _) in itertools.pairwise(offsets):
        assert s1 < s2 <= e1 or not text[e1:s2].strip()
    # A chunk never starts or ends in the middle of a word.
    for start, end in offsets:
        assert start == 0 or text[start - 1].isspace() or not text[start - 1].isalnum()
        assert end == len(text) or text[end].isspace() or text[end - 1].isspace()
    return chunks


def test_short_text_is_one_chunk():
    assert split("  Hello   world.  ", size=100, overlap=10) == ["Hello   world."]


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t"])
def test_empty_text_has_no_chunks(text):
    assert split(text) == []


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (-5, 0), (100, 100), (100, 150), (10, -1)])
def test_invalid_arguments(size, overlap):
    with pytest.raises(ValueError, match=r"size|overlap"):
        split("text", size=size, overlap=overlap)


def test_defaults_are_1000_and_200():
    text = sample_text(20_000)
    assert split(text) == split(text, size=1000, overlap=200)


@pytest.mark.parametrize(
    ("size", "overlap"), [(1000, 200), (500, 100), (200, 0), (120, 60), (50, 45), (30, 5)]
)
def test_windows_are_well_formed(size, overlap):
    assert_well_formed(sample_text(12_000), size=size, overlap=overlap)


def test_next_chunk_starts_about_size_minus_overlap_later():
    # Given text of words with no sentence ends, so only word boundaries move the cuts
    text = " ".join(f"word{i:04d}" for i in range(2_000))  # 9 characters a word, 1 space
    offsets = spans(text, size=1000, overlap=200)
    # Then each chunk is nearly full and the next starts ~800 characters later, at a word
    for (s1, e1), (s2, _) in itertools.pairwise(offsets):
        assert 990 <= e1 - s1 <= 1000
        assert 790 <= s2 - s1 <= 801  # 801: the word after a space at exactly 800
        assert e1 - s2 >= 190  # the overlap


def test_overlap_repeats_the_end_of_the_previous_chunk():
    text = sample_text(5_000)
    chunks = split(text, size=300, overlap=100)
    for previous, current in itertools.pairwise(chunks):
        head = current[:40].rsplit(" ", 1)[0]
        assert head and head in previous


def test_without_overlap_chunks_partition_the_text():
    text = sample_text(5_000)
    offsets = spans(text, size=250, overlap=0)
    for (_, e1), (s2, _) in itertools.pairwise(offsets):
        assert not text[e1:s2].strip()  # only whitespace between two chunks
    assert " ".join(text[s:e] for s, e in offsets).split() == text.split()


def test_cuts_prefer_sentence_ends_and_paragraphs():
    sentence = "This sentence has exactly fifty characters in it. "
    assert len(sentence) == 50
    text = sentence * 40
    chunks = split(text, size=230, overlap=60)
    assert all(chunk.endswith(".") for chunk in chunks)
    assert all(chunk.startswith("This") for chunk in chunks)

    # A paragraph break near the limit wins over a sentence end nearer still.
    paragraph = "Alpha beta gamma. " * 9 + "Delta epsilon"  # 175 characters
    text = "\n\n".join([paragraph] * 6)
    chunks = split(text, size=200, overlap=20)
    assert chunks[0] == paragraph
    assert all(chunk.endswith("Delta epsilon") for chunk in chunks)
    # The overlap starts at the beginning of the last sentence of the previous chunk.
    assert all(chunk.startswith(("Alpha", "Delta epsilon\n\nAlpha")) for chunk in chunks)


def test_a_word_longer_than_size_is_cut_but_nothing_is_lost():
    long_word = "x" * 250
    text = f"start {long_word} end"
    chunks = split(text, size=100, overlap=20)
    assert all(len(chunk) <= 100 for chunk in chunks)
    assert chunks[0] == "start"
    assert chunks[-1].endswith("end")
    # The long word is covered by consecutive, overlapping pieces.
    joined = "".join(chunk.replace("start", "").replace("end", "").strip()[:80] for chunk in chunks)
    assert joined.count("x") >= 250 - 20


def test_no_whitespace_at_all():
    text = "y" * 1_000
    chunks = split(text, size=300, overlap=50)
    assert [len(c) for c in chunks] == [300, 300, 300, 250]


def test_deterministic():
    text = sample_text(50_000, seed=3)
    assert split(text, size=700, overlap=150) == split(text, size=700, overlap=150)


def test_one_megabyte_is_fast():
    # Given 1 MB of text
    text = sample_text(1_000_000)
    # When it is split with the defaults
    started = time.perf_counter()
    chunks = split(text)
    elapsed = time.perf_counter() - started
    # Then it takes well under a second (3 s allows for a slow, busy machine)
    assert elapsed < 3.0
    assert 1_000_000 / 1000 < len(chunks) < 1_000_000 / 500
    assert_well_formed(text[:200_000], size=1000, overlap=200)
