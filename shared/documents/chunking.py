"""Chunking: a document's text as overlapping windows, each small enough to embed.

A window holds at most ``size`` characters; the next one starts about ``size - overlap``
characters later, so a sentence cut at one window's end is whole in the next. Windows end at a
paragraph break, a sentence end or whitespace near their limit, and start at the beginning of a
word (of a sentence when one is near), so no word is cut unless it alone is longer than
``size``. No text is ever skipped: every word of the input is in some chunk. The result depends
only on the arguments, and the work is linear in the length of the text.
"""

from __future__ import annotations

import re

# A sentence ends with . ! ? or … (and any closing quotes or brackets), then whitespace.
_SENTENCE_END = re.compile("[.!?\u2026][\"'\u201d\u2019)\\]]*(?=\\s)")
_NON_SPACE = re.compile(r"\S")
_SPACE = re.compile(r"\s")
_COMMON_SPACES = (" ", "\n", "\t", "\r")


def split(text: str, *, size: int = 1000, overlap: int = 200) -> list[str]:
    """``text`` as overlapping chunks of at most ``size`` characters, in order.

    Raises ``ValueError`` unless ``size >= 1`` and ``0 <= overlap < size``.
    """
    return [text[start:end].rstrip() for start, end in spans(text, size=size, overlap=overlap)]


def spans(text: str, *, size: int = 1000, overlap: int = 200) -> list[tuple[int, int]]:
    """The ``(start, end)`` offsets of the chunks :func:`split` returns (before ``rstrip``)."""
    if size < 1:
        raise ValueError(f"size must be at least 1, not {size}")
    if not 0 <= overlap < size:
        raise ValueError(f"overlap must be at least 0 and less than size ({size}), not {overlap}")
    n = len(text)
    step = size - overlap
    # How far back from a window's limit a boundary still counts as "near".
    near = max(1, size // 5)
    result: list[tuple[int, int]] = []
    start = _next_non_space(text, 0)
    while start < n:
        end = min(start + size, n)
        if end < n:
            end = _cut_end(text, start, end, near)
        result.append((start, end))
        if _next_non_space(text, end) >= n:
            break
        start = _next_start(
            text, start=start, end=end, target=start + step, near=min(near, overlap, step // 2)
        )
    return result


def _next_non_space(text: str, pos: int) -> int:
    match = _NON_SPACE.search(text, pos)
    return match.start() if match else len(text)


def _last_space(text: str, lo: int, hi: int) -> int:
    """The index of the last whitespace character in ``text[lo:hi]``, or -1."""
    found = max(text.rfind(c, lo, hi) for c in _COMMON_SPACES)
    if found >= 0:
        return found
    for i in range(hi - 1, lo - 1, -1):  # rarer whitespace (no-break space, ...): the slow way
        if text[i].isspace():
            return i
    return -1


def _cut_end(text: str, start: int, end: int, near: int) -> int:
    """Where the window ``text[start:end]`` should end; ``end < len(text)``."""
    lo = max(start + 1, end - near)
    # A paragraph break near the limit; the break itself stays out of both chunks' edges.
    paragraph = text.rfind("\n\n", lo, end + 1)
    if paragraph > start:
        return paragraph
    # A sentence end near the limit (the lookahead may see the character just past the limit).
    last = -1
    for match in _SENTENCE_END.finditer(text, lo, min(len(text), end + 1)):
        if match.end() <= end:
            last = match.end()
    if last > start:
        return last
    if text[end].isspace() or text[end - 1].isspace():
        return end  # the limit already falls between two words
    space = _last_space(text, start + 1, end)
    if space > start:
        return space
    return end  # one word longer than the window: cut it


def _next_start(text: str, *, start: int, end: int, target: int, near: int) -> int:
    """Where the window after ``text[start:end]`` starts: at most at ``end``, never at ``start``.

    ``target`` is ``start + size - overlap``; the start moves back from it to the beginning of a
    sentence within ``near`` characters, or else to the beginning of the word at ``target``
    (or of the next word, when the word at ``target`` is the one the previous window began with).
    """
    target = min(target, end)  # never past the previous end: no text is skipped
    candidate = -1
    if near > 0:
        for match in _SENTENCE_END.finditer(text, max(start + 1, target - near), target):
            candidate = match.end()
    if candidate > start:
        return _next_non_space(text, candidate)
    if text[target - 1].isspace() or text[target].isspace():
        return _next_non_space(text, target)
    space = _last_space(text, start + 1, target)
    if space > start:
        return space + 1
    after = _first_space(text, target, end)
    if after >= 0:
        return _next_non_space(text, after)
    return target  # inside a word longer than the window, which is cut anyway


def _first_space(text: str, lo: int, hi: int) -> int:
    """The index of the first whitespace character in ``text[lo:hi]``, or -1."""
    match = _SPACE.search(text, lo, hi)
    return match.start() if match else -1
