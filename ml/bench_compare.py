"""ONNX Runtime rows/s of two text-model files, interleaved so that machine load hits both alike.

    git show <old commit>:model/product_category.onnx > /tmp/old.onnx
    .venv/bin/python ml/bench_compare.py /tmp/old.onnx model/product_category.onnx

One intra-op and one inter-op thread (as ml/bench_inference.py); the held-out catalog test texts;
batch 1 (500 rows) and batch 64 (2048 rows) per pass; 7 passes alternating the files; medians.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train  # noqa: E402  (sets OMP/OpenBLAS threads to 1 before numpy loads)

import numpy as np  # noqa: E402

from contract import OUTPUT, TEXT_INPUT  # noqa: E402


def rate(sess, texts: list[str], batch: int, rows: int) -> float:
    xs = [np.array(texts[i:i + batch], dtype=object).reshape(-1, 1) for i in range(0, rows, batch)]
    sess.run([OUTPUT], {TEXT_INPUT: xs[0]})
    t = time.perf_counter()
    for x in xs:
        sess.run([OUTPUT], {TEXT_INPUT: x})
    return rows / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--passes", type=int, default=7)
    args = ap.parse_args()
    texts = train.catalog_mod.generate_catalog()
    texts = [p.text for p in texts["test"]]
    sess = {"old": train.ort_session(args.old.read_bytes()), "new": train.ort_session(args.new.read_bytes())}
    for batch, rows in ((1, 500), (64, 2048)):
        runs = {k: [] for k in sess}
        for _ in range(args.passes):
            for k, s in sess.items():
                runs[k].append(rate(s, texts, batch, rows))
        med = {k: statistics.median(v) for k, v in runs.items()}
        print(f"batch {batch:3d}: old {med['old']:,.0f} rows/s, new {med['new']:,.0f} rows/s, "
              f"new/old {med['new'] / med['old']:.3f}", flush=True)


if __name__ == "__main__":
    main()
