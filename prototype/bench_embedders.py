"""Cold start and throughput of the embedders in prototype/eval.py, one core, fresh processes.

    taskset -c 0 python prototype/bench_embedders.py wordllama-256 lexical minilm
    taskset -c 0 python prototype/bench_embedders.py --runs 3 --texts 2000 wordllama-256

For each embedder, ``--runs`` fresh interpreters each time (a) the import and load (the cost a
Lambda cold start pays: interpreter start excluded, it is the same for all), (b) the first
embedding of one short query, (c) the throughput on ``--texts`` chunk-sized texts (~800
characters) in batches of 64. Threads are held to one (OMP/MKL/RAYON/torch) so the figures are
per core. Prints the median of each.
"""

# ruff: noqa: S603  (runs this interpreter on its own code)

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {here!r}); sys.path.insert(0, {root!r})
import eval as ev
from offline_check import chunk_texts
if {name!r} == "minilm":
    import torch; torch.set_num_threads(1)
embed = ev.EMBEDDERS[{name!r}]()
t1 = time.perf_counter()
embed(["unpaid bill"])
t2 = time.perf_counter()
texts = chunk_texts({n})
embed(texts[:64])
t3 = time.perf_counter()
for i in range(0, len(texts), 64):
    embed(texts[i:i + 64])
t4 = time.perf_counter()
print(json.dumps({{"load_s": t1 - t0, "first_query_ms": 1000 * (t2 - t1),
                  "texts_per_s": len(texts) / (t4 - t3)}}))
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("embedders", nargs="+")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--texts", type=int, default=1000)
    args = parser.parse_args()
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        RAYON_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
    )
    for name in args.embedders:
        n = args.texts if name != "minilm" else min(args.texts, 200)
        code = CHILD.format(here=str(HERE), root=str(HERE.parent), name=name, n=n)
        results = []
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
            ).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
        med = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print(
            f"{name:<16} import+load {1000 * med['load_s']:7.0f} ms   first query "
            f"{med['first_query_ms']:6.1f} ms   {med['texts_per_s']:8,.0f} chunks/s  ({n} chunks, "
            f"{args.runs} runs: load "
            + ", ".join(f"{1000 * r['load_s']:.0f}" for r in results)
            + " ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
