"""Inference throughput of the committed ONNX models against scikit-learn, one thread.

    .venv/bin/python ml/bench_inference.py
    .venv/bin/python ml/bench_inference.py --text-model /tmp/old.onnx   # any text model file

For the text model and the features model, at batch sizes 1, 8, 64 and 256: rows/s of ONNX
Runtime (intra_op_num_threads=1, inter_op_num_threads=1, CPU) and of scikit-learn's
`predict_proba` on the same rows, and their ratio. The scikit-learn peer is refitted from the
file's `training_variant` metadata (training is deterministic, see ml/train.py), so it is the
pipeline the file was exported from. Rows: the held-out test split (4500 texts) / the test
features (600 rows), cycled. Every cell runs for about --seconds after one warm-up call; the
whole run takes ~15 s. Numbers are rows per second of wall time on a possibly shared machine.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train  # noqa: E402  (sets OMP/OpenBLAS threads to 1 before numpy loads)

import numpy as np  # noqa: E402
import onnx  # noqa: E402

from contract import FEATURES_INPUT, FEATURES_MODEL_PATH, OUTPUT, TEXT_INPUT, TEXT_MODEL_PATH  # noqa: E402

BATCHES = (1, 8, 64, 256)


def rows_per_second(predict, rows, batch: int, seconds: float) -> float:
    """Rows/s of predict(chunk) over consecutive chunks of `batch` rows (cycling through
    `rows`), for about `seconds` and at least 2 calls, after one warm-up call."""
    n = len(rows)
    chunks = [rows[i:i + batch] for i in range(0, n - batch + 1, batch)] or [rows[:batch]]
    predict(chunks[0])
    done, calls, k = 0, 0, 0
    t0 = time.perf_counter()
    while True:
        chunk = chunks[k % len(chunks)]
        predict(chunk)
        done += len(chunk)
        calls += 1
        k += 1
        elapsed = time.perf_counter() - t0
        if calls >= 2 and elapsed >= seconds:
            return done / elapsed


def table(title: str, onnx_predict, skl_predict, rows, seconds: float) -> None:
    print(title)
    print(f"  {'batch':>5} | {'ONNX rows/s':>12} | {'scikit-learn rows/s':>19} | {'ONNX/sklearn':>12}")
    for b in BATCHES:
        o = rows_per_second(onnx_predict, rows, b, seconds)
        s = rows_per_second(skl_predict, rows, b, seconds) if skl_predict else float("nan")
        print(f"  {b:>5} | {o:>12,.0f} | {s:>19,.0f} | {o / s:>11.1f}x", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--text-model", type=Path, default=TEXT_MODEL_PATH)
    ap.add_argument("--features-model", type=Path, default=FEATURES_MODEL_PATH)
    ap.add_argument("--seconds", type=float, default=0.4, help="time per cell (default 0.4)")
    args = ap.parse_args()
    t_start = time.time()

    # Text model
    props = {p.key: p.value for p in onnx.load(args.text_model).metadata_props}
    variant = props.get("training_variant", "?")
    data = train.load_text_data(int(props.get("training_seed", train.SEED)))
    texts = data.texts["test"]
    sess = train.ort_session(args.text_model)

    def onnx_text(chunk):
        return sess.run([OUTPUT], {TEXT_INPUT: np.array(chunk, dtype=object).reshape(-1, 1)})[0]

    skl_text = None
    if variant in train.VARIANTS:
        pipe = train.fit_text_variant(variant, data)
        skl_text = pipe.predict_proba
        diff = float(np.abs(onnx_text(texts[:512]) - pipe.predict_proba(texts[:512])).max())
        parity = f", ONNX vs scikit-learn max |diff| {diff:.1e} on 512 rows"
    else:
        parity = f" (training_variant {variant!r} is not in ml/train.py: no scikit-learn peer)"
    nodes = {n.op_type for n in onnx.load(args.text_model).graph.node}
    kind = "dense TF-IDF graph" if "TfIdfVectorizer" in nodes else "lookup graph"
    table(f"text model {args.text_model} ({variant}, {kind}, {args.text_model.stat().st_size / 1e6:.2f} MB)"
          f"{parity}; rows: {len(texts)} test texts", onnx_text, skl_text, texts, args.seconds)

    # Features model
    X, y = train.load_feature_data()
    fsess = train.ort_session(args.features_model)
    mlp = train.fit_feature_model(X, y)
    rows = X["test"]
    table(f"features model {args.features_model} (MLP 16->32->3); rows: {len(rows)} test rows",
          lambda chunk: fsess.run([OUTPUT], {FEATURES_INPUT: chunk})[0], mlp.predict_proba, rows, args.seconds)
    print(f"(ONNX Runtime with intra_op_num_threads=1; {time.time() - t_start:.1f}s)")


if __name__ == "__main__":
    main()
