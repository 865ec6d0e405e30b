"""Search quality on the labelled set (tests/fixtures/search/eval.json), every embedder that runs
here: ``make eval`` (= ``python -m tests.quality.search``).

    python -m tests.quality.search                       # static (256, 128, 64) and lexical
    python -m tests.quality.search --embedders static --thresholds
    python -m tests.quality.search --json /tmp/eval.json

For each embedder, documents are embedded as ingest embeds a chunk (``document_text``: the title,
a newline, the text; ``--text-only`` for the text alone), the queries as search embeds them, and
each query's documents are ranked by cosine similarity (exact). Reported: recall@1, recall@5 and
MRR (a hit is the ``answer`` or one of the ``also`` documents), overall and by kind; with
``--thresholds``, what each minimum score keeps and drops. Bedrock's Titan cannot run here (no
AWS): it is listed, not measured. ``tests/unit/test_search_quality.py`` keeps the default
embedder above a floor.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from functions.registry import REPO_ROOT

EVAL_FILE = REPO_ROOT / "tests" / "fixtures" / "search" / "eval.json"
KINDS = ("paraphrase", "synonym", "question", "no_shared_word", "title", "second_language")
THRESHOLDS = (0.05, 0.10, 0.15, 0.20, 0.25)

Embed = Callable[[Sequence[str]], np.ndarray]


def _static(dimensions: int) -> Callable[[], Embed]:
    def make() -> Embed:
        from shared.embeddings import StaticEmbedder

        embedder = StaticEmbedder(dimensions)
        return lambda texts: np.asarray(embedder.embed_array(texts), dtype=np.float32)

    return make


def _lexical() -> Embed:
    from shared.embeddings import LocalEmbedder

    embedder = LocalEmbedder(256)
    return lambda texts: np.asarray(embedder.embed(texts), dtype=np.float32)


def _bedrock() -> Embed:
    raise RuntimeError("Bedrock's Titan needs AWS: it cannot run on this machine")


EMBEDDERS: dict[str, Callable[[], Embed]] = {
    "static": _static(256),
    "static-128": _static(128),
    "static-64": _static(64),
    "lexical": _lexical,
    "bedrock": _bedrock,
}


def load(path: Path = EVAL_FILE) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True)
class Summary:
    n: int
    recall_at_1: float
    recall_at_5: float
    mrr: float


def _summary(ranks: np.ndarray) -> Summary:
    return Summary(
        n=len(ranks),
        recall_at_1=float(np.mean(ranks <= 1)),
        recall_at_5=float(np.mean(ranks <= 5)),
        mrr=float(np.mean(1.0 / ranks)),
    )


def evaluate(embed: Embed, data: dict[str, Any], *, with_title: bool = True) -> dict[str, Any]:
    """Ranks, correct-answer scores and summaries of one embedder on the set."""
    from shared.embeddings import document_text

    docs, queries = data["documents"], data["queries"]
    index = {d["id"]: i for i, d in enumerate(docs)}
    texts = [document_text(d["title"], d["text"]) if with_title else d["text"] for d in docs]
    doc_vectors = embed(texts)
    scores = embed([q["query"] for q in queries]) @ doc_vectors.T
    ranks, correct, unrelated_top10 = [], [], []
    for qi, q in enumerate(queries):
        relevant = {index[q["answer"]], *(index[a] for a in q.get("also", []))}
        order = np.argsort(-scores[qi], kind="stable")
        ranks.append(next(r for r, di in enumerate(order, 1) if di in relevant))
        correct.append(max(float(scores[qi, di]) for di in relevant))
        unrelated_top10 += [float(scores[qi, di]) for di in order[:10] if di not in relevant]
    rank_array = np.array(ranks)
    kinds = np.array([q["kind"] for q in queries])
    unanswerable = [u["query"] for u in data.get("unanswerable", [])]
    best_unanswerable = (embed(unanswerable) @ doc_vectors.T).max(axis=1) if unanswerable else None
    return {
        "overall": _summary(rank_array),
        "by_kind": {k: _summary(rank_array[kinds == k]) for k in KINDS if (kinds == k).any()},
        "ranks": rank_array,
        "correct": np.array(correct),
        "unrelated_top10": np.array(unrelated_top10),
        "best_unanswerable": best_unanswerable,
    }


def thresholds(result: dict[str, Any]) -> list[dict[str, float]]:
    """What each minimum score does to the correct top-5 hits and to the unrelated results."""
    ranks, correct = result["ranks"], result["correct"]
    rows = []
    for t in THRESHOLDS:
        row = {
            "min_score": t,
            "top5_hits_kept": float(np.mean(correct[ranks <= 5] >= t)),
            "recall@5_after": float(np.mean((ranks <= 5) & (correct >= t))),
            "unrelated_top10_dropped": float(np.mean(result["unrelated_top10"] < t)),
        }
        if result["best_unanswerable"] is not None:
            row["unanswerable_empty"] = float(np.mean(result["best_unanswerable"] < t))
        rows.append(row)
    return rows


def report(name: str, result: dict[str, Any]) -> str:
    lines = [f"## {name}", f"{'kind':<16} {'n':>3} {'R@1':>6} {'R@5':>6} {'MRR':>6}"]
    for label, s in [("overall", result["overall"]), *result["by_kind"].items()]:
        lines.append(
            f"{label:<16} {s.n:>3} {s.recall_at_1:>6.3f} {s.recall_at_5:>6.3f} {s.mrr:>6.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.quality.search", description=__doc__)
    parser.add_argument("--embedders", default=",".join(EMBEDDERS))
    parser.add_argument("--text-only", action="store_true", help="embed documents without title")
    parser.add_argument("--thresholds", action="store_true", help="the minimum-score table")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    data = load()
    print(f"{len(data['documents'])} documents, {len(data['queries'])} queries")
    figures: dict[str, Any] = {}
    for name in [n for n in args.embedders.split(",") if n]:
        try:
            embed = EMBEDDERS[name]()
        except (ImportError, RuntimeError) as exc:
            print(f"\n## {name}: not measured ({exc})")
            continue
        result = evaluate(embed, data, with_title=not args.text_only)
        print("\n" + report(name, result))
        figures[name] = {
            "overall": result["overall"].__dict__,
            "by_kind": {k: s.__dict__ for k, s in result["by_kind"].items()},
        }
        if args.thresholds:
            table = thresholds(result)
            figures[name]["thresholds"] = table
            print("  ".join(table[0]))
            for row in table:
                print("  ".join(f"{row[c]:>{len(c)}.2f}" for c in row))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
