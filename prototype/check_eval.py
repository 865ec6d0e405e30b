"""Check tests/fixtures/search/eval.json: structure, counts, and the no_shared_word rule.

    python prototype/check_eval.py          # exit 1 on any problem

The no_shared_word rule, applied to the query against the answer's title + text:
both lower-cased and split into runs of Unicode letters and digits (``[^\\W_]+``, the
tokenization of ``shared/embeddings.py``); the LocalEmbedder's ``STOP_WORDS`` and one-character
tokens dropped; then no query word may
  1. equal a document word, or
  2. equal one once a final "s" is removed from either ("tank"/"tanks"), or
  3. share its first five letters with one ("vaccine"/"vaccination").
It also prints, for every other kind, how many queries share a content word with their answer.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL_FILE = ROOT / "tests" / "fixtures" / "search" / "eval.json"
KINDS = ("paraphrase", "synonym", "question", "no_shared_word", "title", "second_language")
MINIMUM = {"documents": 36, "queries": 72, "second_language": 8}

sys.path.insert(0, str(ROOT))
from shared.embeddings import STOP_WORDS  # noqa: E402  (the repository's own list)

TOKEN = re.compile(r"[^\W_]+")


def content_words(text: str) -> set[str]:
    return {t for t in TOKEN.findall(text.lower()) if t not in STOP_WORDS and len(t) > 1}


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def shared_words(query: str, document_text: str) -> list[tuple[str, str]]:
    """Pairs (query word, document word) that break the no_shared_word rule."""
    pairs = []
    for q in sorted(content_words(query)):
        for d in sorted(content_words(document_text)):
            if (
                q == d
                or _singular(q) == _singular(d)
                or (len(q) >= 5 and len(d) >= 5 and q[:5] == d[:5])
            ):
                pairs.append((q, d))
    return pairs


def load(path: Path = EVAL_FILE) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def check(data: dict) -> list[str]:
    problems = []
    docs = {d["id"]: d for d in data["documents"]}
    if len(docs) != len(data["documents"]):
        problems.append("duplicate document ids")
    ids = [q["id"] for q in data["queries"]]
    if len(set(ids)) != len(ids):
        problems.append("duplicate query ids")
    texts = Counter(q["query"].lower() for q in data["queries"])
    problems += [f"query repeated: {t!r}" for t, n in texts.items() if n > 1]
    for d in data["documents"]:
        if not d["title"].strip() or not d["text"].strip():
            problems.append(f"{d['id']}: empty title or text")
    answered = Counter()
    for q in data["queries"]:
        if q["kind"] not in KINDS:
            problems.append(f"{q['id']}: unknown kind {q['kind']!r}")
        for target in [q["answer"], *q.get("also", [])]:
            if target not in docs:
                problems.append(f"{q['id']}: unknown document {target!r}")
        answered[q["answer"]] += 1
        if q["kind"] == "second_language" and not q.get("language"):
            problems.append(f"{q['id']}: second_language without a language")
        if q["kind"] == "no_shared_word" and q["answer"] in docs:
            doc = docs[q["answer"]]
            pairs = shared_words(q["query"], f"{doc['title']} {doc['text']}")
            if pairs:
                problems.append(f"{q['id']} {q['query']!r} shares {pairs} with {q['answer']}")
    problems += [f"{d} is the answer of no query" for d in docs if not answered[d]]
    kinds = Counter(q["kind"] for q in data["queries"])
    if len(docs) < MINIMUM["documents"]:
        problems.append(f"only {len(docs)} documents")
    if len(ids) < MINIMUM["queries"]:
        problems.append(f"only {len(ids)} queries")
    if kinds["second_language"] < MINIMUM["second_language"]:
        problems.append(f"only {kinds['second_language']} second_language queries")
    return problems


def main() -> int:
    data = load()
    docs = {d["id"]: d for d in data["documents"]}
    kinds = Counter(q["kind"] for q in data["queries"])
    languages = Counter(q.get("language") for q in data["queries"] if q.get("language"))
    print(f"{len(docs)} documents, {len(data['queries'])} queries")
    print("by kind: " + ", ".join(f"{k} {kinds[k]}" for k in KINDS))
    print("languages: " + ", ".join(f"{k} {v}" for k, v in sorted(languages.items())))
    lengths = [len(d["text"]) for d in data["documents"]]
    print(
        f"document text: {min(lengths)}-{max(lengths)} chars, "
        f"mean {sum(lengths) / len(lengths):.0f}"
    )
    for kind in KINDS:
        qs = [q for q in data["queries"] if q["kind"] == kind]
        overlap = sum(
            1
            for q in qs
            if shared_words(q["query"], f"{docs[q['answer']]['title']} {docs[q['answer']]['text']}")
        )
        print(f"  {kind:<16} {overlap:>2}/{len(qs)} share a content word with their answer")
    problems = check(data)
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
