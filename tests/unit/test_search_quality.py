"""Search quality: the labelled set is what its README says, and the default embedder stays above
a floor on it (``make eval`` prints every figure; docs/vectors.md has them)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from shared.embeddings import STOP_WORDS
from tests.quality.search import EMBEDDERS, KINDS, evaluate, load

DATA = load()
TOKEN = re.compile(r"[^\W_]+")
#: The floor CI keeps for the default (static) embedder, a little under its measured figures
#: (R@1 0.717, R@5 0.841, MRR 0.778): a regression in the embedder, the title embedding or the
#: tokenizer files fails here.
FLOOR = {"recall_at_1": 0.70, "recall_at_5": 0.82, "mrr": 0.76}


def content_words(text: str) -> set[str]:
    return {t for t in TOKEN.findall(text.lower()) if t not in STOP_WORDS and len(t) > 1}


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def shared_words(query: str, document: str) -> list[tuple[str, str]]:
    """Pairs (query word, document word) that break the ``no_shared_word`` rule: equal, equal
    once a final "s" is dropped, or sharing their first five letters."""
    return [
        (q, d)
        for q in sorted(content_words(query))
        for d in sorted(content_words(document))
        if q == d
        or _singular(q) == _singular(d)
        or (len(q) >= 5 and len(d) >= 5 and q[:5] == d[:5])
    ]


def test_the_set_is_as_large_and_as_varied_as_the_issue_asks():
    documents = {d["id"]: d for d in DATA["documents"]}
    queries = DATA["queries"]
    kinds = Counter(q["kind"] for q in queries)
    assert len(documents) == len(DATA["documents"]) >= 30  # unique ids
    assert len({q["id"] for q in queries}) == len(queries) >= 60
    assert set(kinds) == set(KINDS)
    assert kinds["second_language"] >= 8
    assert all(q["language"] for q in queries if q["kind"] == "second_language")
    answered = {q["answer"] for q in queries}
    assert answered == set(documents)  # every document answers some query
    assert all(t in documents for q in queries for t in [q["answer"], *q.get("also", [])])
    assert len(DATA["unanswerable"]) >= 10


def test_no_shared_word_queries_share_no_word_with_their_answer():
    documents = {d["id"]: d for d in DATA["documents"]}
    broken = {
        q["id"]: pairs
        for q in DATA["queries"]
        if q["kind"] == "no_shared_word"
        and (
            pairs := shared_words(
                q["query"],
                f"{documents[q['answer']]['title']} {documents[q['answer']]['text']}",
            )
        )
    }
    assert broken == {}


@pytest.fixture(scope="module")
def static_result():
    return evaluate(EMBEDDERS["static"](), DATA)


def test_the_default_embedder_stays_above_its_floor(static_result):
    overall = static_result["overall"]
    assert overall.recall_at_1 >= FLOOR["recall_at_1"], overall
    assert overall.recall_at_5 >= FLOOR["recall_at_5"], overall
    assert overall.mrr >= FLOOR["mrr"], overall


def test_paraphrases_and_synonyms_are_found_first(static_result):
    # What a new user types first: other words for what the document says
    for kind in ("paraphrase", "synonym", "question", "title"):
        assert static_result["by_kind"][kind].recall_at_1 >= 0.9, kind


def test_meaning_beats_shared_words(static_result):
    # The lexical embedder finds none of the queries that share no word with their answer
    lexical = evaluate(EMBEDDERS["lexical"](), DATA)
    assert lexical["by_kind"]["no_shared_word"].recall_at_1 == 0.0
    assert static_result["by_kind"]["no_shared_word"].recall_at_1 >= 0.35
    assert static_result["overall"].mrr > lexical["overall"].mrr + 0.25
