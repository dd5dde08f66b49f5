"""Train, evaluate and export both product-category models to ONNX.

    scripts/setup-python && .venv/bin/python ml/train.py

Writes model/product_category.onnx (text model, the default; exported by
ml/text_graph.py as a lookup graph), model/product_category_features.onnx
(16-feature model, skl2onnx), their model cards (model/*.md) and confusion-matrix
PNGs. Same seed => same data, same models, same metrics, byte-identical ONNX
files; only the measured rows/s in the text card vary between runs.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.frozen import FrozenEstimator  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, log_loss,  # noqa: E402
                             precision_recall_fscore_support)
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import FeatureUnion, Pipeline  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402
from skl2onnx import convert_sklearn  # noqa: E402
from skl2onnx.common.data_types import FloatTensorType  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import catalog as catalog_mod  # noqa: E402
import styles  # noqa: E402
import text_graph  # noqa: E402
from contract import (FEATURES_INPUT, FEATURES_MODEL_NAME, FEATURES_MODEL_PATH, HARD_SET_PATHS,  # noqa: E402
                      LABELS, MODEL_DIR, MODEL_VERSION, NUM_FEATURES, OUTPUT, SEED, TEXT_INPUT,
                      TEXT_MODEL_NAME, TEXT_MODEL_PATH, TEXT_MODEL_VERSION, compose_text, metadata)

RETRAIN_COMMAND = "scripts/setup-python && .venv/bin/python ml/train.py"
TEST_COMMAND = ".venv/bin/python -m pytest ml/tests"
BENCH_COMMAND = ".venv/bin/python ml/bench_inference.py"
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
# Threshold rule: the smallest confidence t (0.50..0.95, step 0.01) such that
# validation predictions with confidence >= t are at least 99.5% correct. The
# target is half a point above the 99% we aim for on new data: validation is
# one draw of unseen vocabulary, and a fresh draw (the test split) can be harder.
REVIEW_TARGET_ACCURACY = 0.995
REVIEW_GRID = [round(0.50 + 0.01 * i, 2) for i in range(46)]
# Selection rule: a variant is a contender when its validation macro-F1 is within
# SELECTION_TOLERANCE of the best variant's AND its macro-F1 on the typo-stressed
# validation split (one extra typo in every product name) is within SELECTION_TOLERANCE
# of the best there; the fastest contender (ONNX Runtime rows/s, batch 64, one thread)
# is chosen. The second test keeps the speed preference from picking a model that only
# looks as good because validation has few typos (word-only models: unknown word = no signal).
SELECTION_TOLERANCE = 0.003
# Speed measurement: median of SPEED_PASSES passes over the first SPEED_ROWS validation
# texts in batches of SPEED_BATCH, ONNX Runtime with one intra-op thread.
SPEED_BATCH = 64
SPEED_ROWS = 2048
SPEED_PASSES = 5
# If the runner-up contender is within this factor of the chosen one's speed, the choice
# may depend on machine load: train.py says so.
SPEED_CLOSE = 1.15


# --------------------------------------------------------------------------
# Text model variants
# --------------------------------------------------------------------------

def _word() -> tuple[str, TfidfVectorizer]:
    # sublinear_tf is avoided on purpose: the exported graph computes plain counts.
    return ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=2, max_features=30000,
                                    dtype=np.float32))


def _char(lo: int, hi: int) -> tuple[str, TfidfVectorizer]:
    # analyzer="char" (not "char_wb"); min_df=5 keeps the model file small at no validation cost.
    return ("char", TfidfVectorizer(analyzer="char", ngram_range=(lo, hi), min_df=5, max_features=40000,
                                    dtype=np.float32))


FEATURE_SETS = {
    "word12": lambda: [_word()],
    "word12+char25": lambda: [_word(), _char(2, 5)],
    "word12+char14": lambda: [_word(), _char(1, 4)],
    "word12+char24": lambda: [_word(), _char(2, 4)],
    "word12+char34": lambda: [_word(), _char(3, 4)],
    "word12+char35": lambda: [_word(), _char(3, 5)],
}
CLASSIFIERS = {
    "lr": (lambda: LogisticRegression(C=10.0, max_iter=3000), "LogisticRegression(C=10)"),
    "svm": (lambda: CalibratedClassifierCV(LinearSVC(C=0.5, random_state=SEED), cv=3, method="sigmoid"),
            "3 LinearSVC(C=0.5), each sigmoid-calibrated on its held-out fold, averaged (3-fold)"),
    # One LinearSVC fitted on all of train, sigmoid calibration fitted on 3-fold cross-validated
    # decision values; no intercept, so a text with no known n-gram scores 0 for every class
    # and gets near-uniform probabilities (review) instead of the intercepts' favourite class.
    "svm1": (lambda: CalibratedClassifierCV(LinearSVC(C=0.5, fit_intercept=False, random_state=SEED), cv=3,
                                            method="sigmoid", ensemble=False),
             "one LinearSVC(C=0.5, no intercept), sigmoid-calibrated on 3-fold cross-validated scores"),
    # v2 (issue 23): one LinearSVC (no intercept) fitted on the training data (catalog + listing
    # styles + noise rows); its per-class sigmoid calibration is fitted afterwards on the
    # calibration half of validation (held-out vocabulary, never seen in training) by
    # fit_text_variant: CalibratedClassifierCV(FrozenEstimator(svm), method="sigmoid").
    "svmh": (lambda: LinearSVC(C=0.5, fit_intercept=False, random_state=SEED),
             "one LinearSVC(C=0.5, no intercept) on catalog + listing styles + noise rows, per-class sigmoid "
             "calibration fitted on the held-out calibration split"),
}
# name -> (feature set, classifier). The first one is the previous default.
VARIANTS = {
    "word12+char14_svm": ("word12+char14", "svm"),
    "word12+char14_lr": ("word12+char14", "lr"),
    "word12+char14_svm1": ("word12+char14", "svm1"),
    "word12+char24_svm1": ("word12+char24", "svm1"),
    "word12+char34_svm1": ("word12+char34", "svm1"),
    "word12+char35_svm1": ("word12+char35", "svm1"),
    "word12_svm1": ("word12", "svm1"),
    "v2_word12+char34": ("word12+char34", "svmh"),
    "v2_word12+char35": ("word12+char35", "svmh"),
    "v2_word12+char25": ("word12+char25", "svmh"),
}
# The variants train.py compares by default (the earlier ones stay available with --variants and
# for `--data`, see ml/custom.py).
DEFAULT_TEXT_VARIANTS = ["v2_word12+char34", "v2_word12+char35", "v2_word12+char25"]
_FEATURE_NOTES = {"word12": "word 1-2-grams", "word12+char25": "word 1-2 + char 2-5", "word12+char14": "word 1-2 + char 1-4",
                  "word12+char24": "word 1-2 + char 2-4", "word12+char34": "word 1-2 + char 3-4",
                  "word12+char35": "word 1-2 + char 3-5"}
VARIANT_NOTES = {name: f"{_FEATURE_NOTES[f]} TF-IDF -> {CLASSIFIERS[c][1]}" for name, (f, c) in VARIANTS.items()}


def build_variant(name: str) -> Pipeline:
    """A fresh, unfitted pipeline for a variant (deterministic when fitted)."""
    feats, clf = VARIANTS[name]
    return Pipeline([("features", FeatureUnion(FEATURE_SETS[feats]())), ("clf", CLASSIFIERS[clf][0]())])


@dataclass
class TextData:
    """texts / y / products per split. The catalog's own splits: `train`, `val`, `test` (the
    generator split whose figures the model card has always reported). v2 adds
    (ml/styles.py): `train_all` = catalog train + listing-style train + noise rows (what v2
    models are fitted on); `cal` and `thr`, two halves of catalog val + listing-style val (by a
    hash of the text): `cal` fits the calibration, `thr` chooses the variant and the review
    threshold; `styled_test`: listing-style products of the test vocabulary (report only)."""
    texts: dict[str, list[str]]
    y: dict[str, np.ndarray]
    products: dict[str, list]


def _half(text: str) -> str:
    return "cal" if zlib.crc32(text.lower().encode("utf-8")) % 2 == 0 else "thr"


def load_text_data(seed: int = SEED) -> TextData:
    cat = catalog_mod.generate_catalog(seed)
    extra = styles.generate(cat, seed)
    prods = dict(cat)
    prods["train_all"] = cat["train"] + extra["train"]
    val_all = cat["val"] + extra["val"]
    prods["cal"] = [p for p in val_all if _half(p.text) == "cal"]
    prods["thr"] = [p for p in val_all if _half(p.text) == "thr"]
    prods["styled_test"] = extra["test"]
    texts = {s: [p.text for p in ps] for s, ps in prods.items()}
    y = {s: np.array([LABELS.index(p.category) for p in ps], dtype=np.int64) for s, ps in prods.items()}
    return TextData(texts, y, prods)


def fit_text_variant(name: str, data: TextData) -> Pipeline:
    """The fitted pipeline of a variant. Earlier variants: fitted on the catalog's train split
    (their calibration is cross-validated inside it). v2 (`svmh`): TF-IDF + LinearSVC fitted on
    `train_all`, then the sigmoid calibration fitted on the `cal` split only."""
    pipe = build_variant(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if VARIANTS[name][1] != "svmh":
            pipe.fit(data.texts["train"], data.y["train"])
            return pipe
        pipe.fit(data.texts["train_all"], data.y["train_all"])
        union, svm = pipe.named_steps["features"], pipe.named_steps["clf"]
        cal = CalibratedClassifierCV(FrozenEstimator(svm), method="sigmoid")
        cal.fit(union.transform(data.texts["cal"]), data.y["cal"])
    return Pipeline([("features", union), ("clf", cal)])


def typo_stressed(products: list, seed: int = SEED) -> tuple[list[str], int]:
    """The texts of `products` with one more typo in each name (the generator's own typo
    kinds: a dropped, swapped, doubled or wrong letter in a word of 5+ letters), and how many
    texts changed. Validation has typos in only ~12% of names; this measures robustness to
    them. Deterministic: its own seeded generator, not the catalog's."""
    from contract import compose_text
    rng = random.Random(f"typo-stress/{seed}")
    texts, changed = [], 0
    for p in products:
        name = catalog_mod.add_typo(rng, p.name)
        changed += name != p.name
        texts.append(compose_text(name, p.brand, p.description))
    return texts, changed


# --------------------------------------------------------------------------
# Features model (the seed article's idea: three Gaussian clusters in 16-D)
# --------------------------------------------------------------------------

FEATURE_CENTERS = {"AUTOPECAS": 0.0, "INFORMATICA": 3.0, "MATERIAL_CONSTRUCAO": -3.0}
FEATURE_SCALE = 0.5
FEATURE_SIZES = {"train": 600, "val": 200, "test": 200}  # per class


def load_feature_data(seed: int = SEED) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    X, y = {}, {}
    for split, n in FEATURE_SIZES.items():
        xs, ys = [], []
        for k, code in enumerate(LABELS):
            xs.append(rng.normal(FEATURE_CENTERS[code], FEATURE_SCALE, size=(n, NUM_FEATURES)))
            ys.append(np.full(n, k, dtype=np.int64))
        order = rng.permutation(n * len(LABELS))
        X[split] = np.vstack(xs).astype(np.float32)[order]
        y[split] = np.concatenate(ys)[order]
    return X, y


def build_feature_model() -> MLPClassifier:
    return MLPClassifier(hidden_layer_sizes=(32,), activation="relu", solver="adam",
                         learning_rate_init=0.01, max_iter=200, random_state=SEED)


def fit_feature_model(X: dict[str, np.ndarray], y: dict[str, np.ndarray]) -> MLPClassifier:
    model = build_feature_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X["train"], y["train"])
    return model


# --------------------------------------------------------------------------
# ONNX export
# --------------------------------------------------------------------------

def keep_only_output(model: onnx.ModelProto, output: str) -> onnx.ModelProto:
    """Drop every graph output but `output` and prune nodes nothing needs."""
    graph = model.graph
    outs = [o for o in graph.output if o.name == output]
    if len(outs) != 1:
        raise ValueError(f"graph has no output {output!r}: {[o.name for o in graph.output]}")
    del graph.output[:]
    graph.output.extend(outs)
    needed = {output}
    keep = []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    keep.reverse()
    del graph.node[:]
    graph.node.extend(keep)
    inits = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    vis = [v for v in graph.value_info if v.name in needed]
    del graph.value_info[:]
    graph.value_info.extend(vis)
    return model


def finalize(model: onnx.ModelProto, graph_name: str, props: dict[str, str]) -> onnx.ModelProto:
    model = keep_only_output(model, OUTPUT)
    # skl2onnx lists opset imports in set order (PYTHONHASHSEED-dependent): sort them so
    # that the same seed gives a byte-identical file.
    imports = sorted((o.domain, o.version) for o in model.opset_import)
    del model.opset_import[:]
    for domain, version in imports:
        model.opset_import.add(domain=domain, version=version)
    model.graph.name = graph_name
    model.doc_string = f"{props['model_name']} {props['model_version']}: see model/*.md"
    del model.metadata_props[:]
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model, full_check=True)
    return model


def export_text_model(pipe: Pipeline, props: dict[str, str] | None = None) -> onnx.ModelProto:
    """The text pipeline as a lookup graph (ml/text_graph.py): no dense TF-IDF row. With
    `props`, the shippable file (metadata, checked); without, just the graph (speed runs)."""
    onx = text_graph.export_lookup_model(pipe, TEXT_INPUT, OUTPUT, "product_category_text")
    return finalize(onx, "product_category_text", props) if props is not None else onx


def onnx_rows_per_second(model: onnx.ModelProto | bytes | Path, texts: list[str], batch: int = SPEED_BATCH,
                         rows: int = SPEED_ROWS, passes: int = SPEED_PASSES) -> float:
    """Median rows/s of ONNX Runtime (one intra-op thread) over `passes` passes through the
    first `rows` texts in batches of `batch`, after one warm-up batch."""
    sess = ort_session(model.SerializeToString() if isinstance(model, onnx.ModelProto) else model)
    texts = texts[:rows]
    batches = [np.array(texts[i:i + batch], dtype=object).reshape(-1, 1) for i in range(0, len(texts), batch)]
    sess.run([OUTPUT], {TEXT_INPUT: batches[0]})
    speeds = []
    for _ in range(passes):
        t = time.perf_counter()
        for x in batches:
            sess.run([OUTPUT], {TEXT_INPUT: x})
        speeds.append(len(texts) / (time.perf_counter() - t))
    return float(np.median(speeds))


def export_feature_model(model: MLPClassifier, props: dict[str, str]) -> onnx.ModelProto:
    onx = convert_sklearn(model, initial_types=[(FEATURES_INPUT, FloatTensorType([None, NUM_FEATURES]))],
                          options={id(model): {"zipmap": False}}, target_opset=TARGET_OPSET)
    return finalize(onx, "product_category_features", props)


def ort_session(path_or_bytes) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    src = str(path_or_bytes) if isinstance(path_or_bytes, Path) else path_or_bytes
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def ort_text_proba(sess: ort.InferenceSession, texts: list[str], batch: int = 512) -> np.ndarray:
    out = []
    for i in range(0, len(texts), batch):
        x = np.array(texts[i:i + batch], dtype=object).reshape(-1, 1)
        out.append(sess.run([OUTPUT], {TEXT_INPUT: x})[0])
    return np.vstack(out)


def ort_feature_proba(sess: ort.InferenceSession, X: np.ndarray) -> np.ndarray:
    return sess.run([OUTPUT], {FEATURES_INPUT: X.astype(np.float32)})[0]


# --------------------------------------------------------------------------
# Metrics, threshold, reports
# --------------------------------------------------------------------------

@dataclass
class Metrics:
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    n: int
    log_loss: float = float("nan")
    extra: dict = field(default_factory=dict)


def evaluate(y: np.ndarray, proba: np.ndarray) -> Metrics:
    pred = proba.argmax(1)
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=range(len(LABELS)), zero_division=0)
    per = {LABELS[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
           for i in range(len(LABELS))}
    clipped = np.clip(proba, 1e-7, 1.0)
    return Metrics(
        accuracy=float(accuracy_score(y, pred)),
        macro_f1=float(f1_score(y, pred, average="macro")),
        per_class=per,
        confusion=confusion_matrix(y, pred, labels=range(len(LABELS))).tolist(),
        n=int(len(y)),
        log_loss=float(log_loss(y, clipped / clipped.sum(1, keepdims=True), labels=range(len(LABELS)))),
    )


def coverage_table(y: np.ndarray, proba: np.ndarray, t: float) -> dict[str, float]:
    conf = proba.max(1)
    ok = proba.argmax(1) == y
    above = conf >= t
    return {
        "threshold": t,
        "coverage_above": float(above.mean()),
        "accuracy_above": float(ok[above].mean()) if above.any() else float("nan"),
        "n_above": int(above.sum()),
        "accuracy_below": float(ok[~above].mean()) if (~above).any() else float("nan"),
        "n_below": int((~above).sum()),
    }


def choose_threshold(y: np.ndarray, proba: np.ndarray) -> float:
    for t in REVIEW_GRID:
        if coverage_table(y, proba, t)["accuracy_above"] >= REVIEW_TARGET_ACCURACY:
            return t
    return REVIEW_GRID[-1]


def plot_confusion(cm: list[list[int]], title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm_arr = np.array(cm)
    fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=100)
    ax.imshow(cm_arr, cmap="Blues")
    ax.set_xticks(range(len(LABELS)), labels=LABELS, rotation=20, ha="right", fontsize=8)
    ax.set_yticks(range(len(LABELS)), labels=LABELS, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    vmax = cm_arr.max()
    for i in range(cm_arr.shape[0]):
        for j in range(cm_arr.shape[1]):
            ax.text(j, i, str(cm_arr[i, j]), ha="center", va="center",
                    color="white" if cm_arr[i, j] > vmax / 2 else "black", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def fmt_metrics(m: Metrics, title: str) -> str:
    lines = [f"{title}: n={m.n} accuracy={m.accuracy:.4f} macro-F1={m.macro_f1:.4f} log-loss={m.log_loss:.4f}"]
    lines.append(f"  {'class':22s} {'precision':>9s} {'recall':>7s} {'f1':>7s} {'support':>7s}")
    for code, v in m.per_class.items():
        lines.append(f"  {code:22s} {v['precision']:9.4f} {v['recall']:7.4f} {v['f1']:7.4f} {v['support']:7d}")
    lines.append("  confusion (rows=true, cols=predicted, order " + ", ".join(LABELS) + "):")
    for code, row in zip(LABELS, m.confusion):
        lines.append(f"  {code:22s} " + " ".join(f"{v:6d}" for v in row))
    return "\n".join(lines)


def md_metrics(m: Metrics) -> str:
    out = [f"- examples: {m.n}", f"- accuracy: **{m.accuracy:.4f}**", f"- macro-F1: **{m.macro_f1:.4f}**",
           f"- log-loss: {m.log_loss:.4f}", "",
           "| class | precision | recall | F1 | support |", "| --- | ---: | ---: | ---: | ---: |"]
    for code, v in m.per_class.items():
        out.append(f"| {code} | {v['precision']:.4f} | {v['recall']:.4f} | {v['f1']:.4f} | {v['support']} |")
    out += ["", "Confusion matrix (rows = true, columns = predicted):", "",
            "| true \\ predicted | " + " | ".join(LABELS) + " |",
            "| --- | " + " | ".join("---:" for _ in LABELS) + " |"]
    for code, row in zip(LABELS, m.confusion):
        out.append(f"| {code} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(out)


def md_coverage(rows: list[dict]) -> str:
    out = ["| threshold | coverage (conf >= t) | accuracy above | n above | accuracy below | n below |",
           "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        out.append(f"| {r['threshold']:.2f} | {r['coverage_above']:.4f} | {r['accuracy_above']:.4f} | {r['n_above']} "
                   f"| {r['accuracy_below']:.4f} | {r['n_below']} |")
    return "\n".join(out)


# --------------------------------------------------------------------------
# Text model
# --------------------------------------------------------------------------

def ngram_orders(name: str) -> int:
    """How many n-gram orders a variant's graph looks up per text (its cost driver)."""
    return sum(hi - lo + 1 for _, v in FEATURE_SETS[VARIANTS[name][0]]() for lo, hi in [v.ngram_range])


def select_variant(results: dict, variants: list[str]) -> tuple[str, list[str], str]:
    """The rule of SELECTION_TOLERANCE: (chosen, contenders, note). Contenders are within
    SELECTION_TOLERANCE of the best validation macro-F1 and of the best typo-stressed
    validation macro-F1; the fastest contender wins. The note is non-empty when the runner-up
    is within SPEED_CLOSE of the winner's speed (the choice could then follow machine load)."""
    tol = SELECTION_TOLERANCE + 1e-9  # macro-F1s are ratios of counts: no float flip at the edge
    best_f1 = max(results[n]["val"].macro_f1 for n in variants)
    best_typo = max(results[n]["typo"].macro_f1 for n in variants)
    contenders = [n for n in variants
                  if results[n]["val"].macro_f1 >= best_f1 - tol and results[n]["typo"].macro_f1 >= best_typo - tol]
    if all(VARIANTS[n][1] == "svmh" for n in contenders):
        # v2: the cheapest graph wins, by a deterministic cost (n-gram orders looked up per text:
        # each is one more pass of codes, lookups and gathers); measured speed only breaks ties.
        # On a shared machine the measured rows/s of two variants swap from run to run.
        ranked = sorted(contenders, key=lambda n: (ngram_orders(n), -results[n]["rows_per_s"], variants.index(n)))
        return ranked[0], contenders, ""
    ranked = sorted(contenders, key=lambda n: (-results[n]["rows_per_s"], variants.index(n)))
    note = ""
    if len(ranked) > 1 and results[ranked[0]]["rows_per_s"] < SPEED_CLOSE * results[ranked[1]]["rows_per_s"]:
        note = (f"{ranked[0]} ({results[ranked[0]]['rows_per_s']:.0f} rows/s) is less than {SPEED_CLOSE}x faster than "
                f"{ranked[1]} ({results[ranked[1]]['rows_per_s']:.0f} rows/s): the choice may depend on machine "
                f"load; pin it with --variants if needed")
    return ranked[0], contenders, note


# v2 review-threshold rule (issue 23)
V2_REVIEW_GRID = [round(0.50 + 0.01 * i, 2) for i in range(50)]
REVIEW_Z = 1.645  # one-sided 95%
REVIEW_MAX_FLAGGED = 0.10


def wilson_lower(correct: int, n: int, z: float = REVIEW_Z) -> float:
    """One-sided lower confidence bound (Wilson score) of a proportion correct/n."""
    if n == 0:
        return 0.0
    p = correct / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def unflagged_lower_bound(y: np.ndarray, proba: np.ndarray, t: float) -> float:
    above = proba.max(1) >= t
    return wilson_lower(int((proba.argmax(1)[above] == y[above]).sum()), int(above.sum()))


def choose_review_threshold(y: np.ndarray, proba: np.ndarray, proba_typo: np.ndarray) -> float:
    """v2 rule: the smallest t on 0.50, 0.51, ..., 0.99 such that the accuracy of the
    predictions with confidence >= t is at least REVIEW_TARGET_ACCURACY with 95% confidence
    (one-sided Wilson lower bound, not the point estimate) on the `thr` split (held out from
    training and from calibration) AND on its typo-stressed copy (one more typo per name: a
    harder draw, standing in for the vocabulary shift between validation and new data).
    0.99 when none is."""
    for t in V2_REVIEW_GRID:
        if (unflagged_lower_bound(y, proba, t) >= REVIEW_TARGET_ACCURACY
                and unflagged_lower_bound(y, proba_typo, t) >= REVIEW_TARGET_ACCURACY):
            return t
    return V2_REVIEW_GRID[-1]


def threshold_for(pipe: Pipeline, data: TextData, seed: int = SEED) -> float:
    """The review threshold of a fitted v2 pipeline (ml/tests re-derive it from a refit)."""
    typo, _ = typo_stressed(data.products["thr"], seed)
    return choose_review_threshold(data.y["thr"], pipe.predict_proba(data.texts["thr"]), pipe.predict_proba(typo))


def hard_set(name: str = "hard set 2") -> list[dict]:
    """A hand-written hard set (ml/eval/): name, brand, description, category, note (+ text)."""
    rows = []
    with open(HARD_SET_PATHS[name], encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        assert header == ["name", "brand", "description", "category", "note"], header
        for line in f:
            if not line.strip():
                continue
            row = dict(zip(header, (line.rstrip("\n").split("\t") + [""] * 5)[:5]))
            row["text"] = compose_text(row["name"], row["brand"], row["description"])
            rows.append(row)
    return rows


def reliability(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> list[tuple[float, float, float, int]]:
    """(bin low, mean confidence, accuracy, n) per confidence bin of the top class."""
    conf, ok = proba.max(1), proba.argmax(1) == y
    edges = np.linspace(1 / len(LABELS), 1.0, bins + 1)
    out = []
    for k in range(bins):
        m = (conf >= edges[k]) & ((conf < edges[k + 1]) if k < bins - 1 else (conf <= 1.0))
        if m.any():
            out.append((float(edges[k]), float(conf[m].mean()), float(ok[m].mean()), int(m.sum())))
    return out


def expected_calibration_error(y: np.ndarray, proba: np.ndarray) -> float:
    return float(sum(n * abs(c - a) for _, c, a, n in reliability(y, proba)) / len(y))


def plot_reliability(sets: dict[str, tuple[np.ndarray, np.ndarray]], title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=100)
    ax.plot([1 / len(LABELS), 1], [1 / len(LABELS), 1], color="grey", lw=1, ls="--", label="perfect calibration")
    for (label, (y, p)), mk in zip(sets.items(), "osd^v"):
        r = reliability(y, p)
        ax.plot([c for _, c, _, _ in r], [a for _, _, a, _ in r], marker=mk, label=f"{label} (n={len(y)}, "
                f"ECE {expected_calibration_error(y, p):.3f})")
    ax.set_xlabel("confidence (top probability), mean per bin")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def plot_tradeoff(sets: dict[str, tuple[np.ndarray, np.ndarray]], threshold: float, title: str, path: Path) -> None:
    """Flagged share (needs_review) against the accuracy of the unflagged results, as the
    threshold goes from 0.34 to 0.99; the chosen threshold is marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=100)
    grid = [round(0.34 + 0.01 * i, 2) for i in range(66)]
    for (label, (y, p)), mk in zip(sets.items(), "osd^v"):
        rows = [coverage_table(y, p, t) for t in grid]
        ax.plot([1 - r["coverage_above"] for r in rows], [r["accuracy_above"] for r in rows], label=label)
        at = coverage_table(y, p, threshold)
        ax.plot([1 - at["coverage_above"]], [at["accuracy_above"]], marker=mk, color="black", ms=6)
    ax.axhline(REVIEW_TARGET_ACCURACY, color="red", lw=1, ls="--", label=f"target {REVIEW_TARGET_ACCURACY:.1%} unflagged")
    ax.axvline(REVIEW_MAX_FLAGGED, color="orange", lw=1, ls="--", label=f"at most {REVIEW_MAX_FLAGGED:.0%} flagged")
    ax.set_xlabel("flagged share (needs_review = true)")
    ax.set_ylabel("accuracy of the unflagged results")
    ax.set_title(f"{title}\nblack markers: review_threshold {threshold:.2f}", fontsize=10)
    ax.set_xlim(0, 0.3)
    ax.set_ylim(0.95, 1.0005)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


class Progress:
    """One line per stage with the elapsed time: `make train` is never silent for minutes."""

    def __init__(self, tag: str) -> None:
        self.tag, self.t0 = tag, time.time()

    def __call__(self, msg: str) -> None:
        print(f"[{self.tag} {time.time() - self.t0:6.1f}s] {msg}", flush=True)


def train_text(seed: int, out_dir: Path, variants: list[str]) -> dict:
    log = Progress("text")
    data = load_text_data(seed)
    log("data: " + ", ".join(f"{s}={len(v)}" for s, v in data.texts.items())
        + " (catalog train/val/test, v2 training set, calibration and threshold halves of validation, "
          "listing-style test)")
    typo_texts, typo_changed = typo_stressed(data.products["thr"], seed)
    log(f"typo-stressed threshold split: one more typo in {typo_changed}/{len(typo_texts)} names")

    results, fitted = {}, {}
    for k, name in enumerate(variants, 1):
        log(f"variant {k}/{len(variants)} {name}: fitting ...")
        t = time.time()
        pipe = fit_text_variant(name, data)
        fit_s = time.time() - t
        val_proba = pipe.predict_proba(data.texts["thr"])
        val = evaluate(data.y["thr"], val_proba)
        typo_proba = pipe.predict_proba(typo_texts)
        typo = evaluate(data.y["thr"], typo_proba)
        n_feats = sum(len(v.vocabulary_) for _, v in pipe.named_steps["features"].transformer_list)
        log(f"variant {name}: fitted in {fit_s:.1f}s; measuring ONNX speed ...")
        speed = onnx_rows_per_second(export_text_model(pipe), data.texts["val"])
        thr_v = choose_review_threshold(data.y["thr"], val_proba, typo_proba)
        results[name] = {"val": val, "typo": typo, "fit_seconds": fit_s, "n_features": n_feats, "rows_per_s": speed,
                         "threshold": thr_v, "flagged": 1 - coverage_table(data.y["thr"], val_proba, thr_v)["coverage_above"]}
        fitted[name] = pipe
        log(f"variant {name:18s} features {n_feats:6d} thr-split accuracy {val.accuracy:.4f} macro-F1 {val.macro_f1:.4f} "
            f"log-loss {val.log_loss:.4f} typo macro-F1 {typo.macro_f1:.4f} ONNX {speed:7.0f} rows/s "
            f"(its threshold {thr_v:.2f} flags {results[name]['flagged']:.1%})")

    chosen, contenders, selection_note = select_variant(results, variants)
    pipe = fitted[chosen]
    log(f"contenders: {', '.join(contenders)}; chosen: {chosen}")
    if selection_note:
        log(f"NOTE: {selection_note}")

    thr_proba = pipe.predict_proba(data.texts["thr"])
    thr_typo_proba = pipe.predict_proba(typo_texts)
    threshold = choose_review_threshold(data.y["thr"], thr_proba, thr_typo_proba)
    val_cov = [coverage_table(data.y["thr"], thr_proba, t) for t in (0.5, 0.7, 0.8, 0.9, 0.95, threshold)]
    typo_cov = coverage_table(data.y["thr"], thr_typo_proba, threshold)
    # what the rule would give without its typo-stressed condition (reported: why it is there)
    thr_only = next((t for t in V2_REVIEW_GRID
                     if coverage_table(data.y["thr"], thr_proba, t)["accuracy_above"] >= REVIEW_TARGET_ACCURACY), 0.99)
    log(f"review_threshold {threshold:.2f} (smallest t with >= {REVIEW_TARGET_ACCURACY:.1%} unflagged accuracy on the "
        f"threshold split and its typo-stressed copy): flags {1 - val_cov[-1]['coverage_above']:.1%} there")
    if 1 - val_cov[-1]["coverage_above"] > REVIEW_MAX_FLAGGED:
        log(f"WARNING: the threshold flags more than {REVIEW_MAX_FLAGGED:.0%} of the threshold split")

    props = metadata(TEXT_MODEL_NAME, threshold, {
        "training_variant": chosen,
        "training_seed": str(seed),
        "input_text": "trimmed non-empty name, brand, description joined by one space",
    }, version=TEXT_MODEL_VERSION)
    model = export_text_model(pipe, props)
    path = out_dir / TEXT_MODEL_PATH.name
    onnx.save(model, path)
    sess = ort_session(path)
    log(f"exported {path} ({path.stat().st_size / 1e6:.2f} MB); evaluating the written file through ONNX Runtime ...")

    # Held-out catalog test split (the figure the card has always reported), through ONNX Runtime.
    test_texts, y_test = data.texts["test"], data.y["test"]
    onnx_test = ort_text_proba(sess, test_texts)
    skl_test = pipe.predict_proba(test_texts)
    parity = {"max_abs_diff": float(np.abs(onnx_test - skl_test).max()),
              "argmax_agreement": float((onnx_test.argmax(1) == skl_test.argmax(1)).mean())}
    log(f"ONNX vs scikit-learn on test: max |diff| {parity['max_abs_diff']:.2e}, "
        f"argmax agreement {parity['argmax_agreement']:.4f}")
    test = evaluate(y_test, onnx_test)
    print(fmt_metrics(test, "[text] held-out catalog test (ONNX Runtime)"), flush=True)
    test_cov = [coverage_table(y_test, onnx_test, t) for t in (0.5, 0.7, 0.8, 0.9, 0.95, threshold)]
    thr = coverage_table(y_test, onnx_test, threshold)
    log(f"catalog test at threshold {threshold:.2f}: flagged {1 - thr['coverage_above']:.2%}, "
        f"unflagged accuracy {thr['accuracy_above']:.4f}, flagged accuracy {thr['accuracy_below']:.4f} (n={thr['n_below']})")
    styled_proba = ort_text_proba(sess, data.texts["styled_test"])
    styled = evaluate(data.y["styled_test"], styled_proba)
    styled_cov = coverage_table(data.y["styled_test"], styled_proba, threshold)
    log(f"listing-style test: accuracy {styled.accuracy:.4f}, flagged {1 - styled_cov['coverage_above']:.2%}, "
        f"unflagged accuracy {styled_cov['accuracy_above']:.4f}")

    # Error analysis by novelty (held-out product types / name variants) and type.
    prods = data.products["test"]
    pred = onnx_test.argmax(1)
    novelty = {}
    for nov, label in (("", "known product-type names (unseen brands/vehicles)"),
                       ("name", "held-out name variants"), ("type", "held-out product types")):
        m = np.array([p.novelty == nov for p in prods])
        novelty[label] = (int(m.sum()), float((pred[m] == y_test[m]).mean()) if m.any() else float("nan"))
    errs: dict[str, int] = {}
    for p, yp, yt in zip(prods, pred, y_test):
        if yp != yt:
            k = f"{p.ptype} ({p.category} -> {LABELS[yp]})"
            errs[k] = errs.get(k, 0) + 1
    worst = sorted(errs.items(), key=lambda kv: (-kv[1], kv[0]))[:12]
    examples = []
    conf = onnx_test.max(1)
    for i in np.nonzero(pred != y_test)[0]:
        if conf[i] >= threshold and len(examples) < 8:
            examples.append((prods[i].text, prods[i].category, LABELS[pred[i]], float(conf[i])))

    # The project's hard sets: reported only (the model, calibration and threshold are fixed above).
    hards = {}
    for hname in HARD_SET_PATHS:
        hard = hard_set(hname)
        y_hard = np.array([LABELS.index(r["category"]) for r in hard])
        hard_proba = ort_text_proba(sess, [r["text"] for r in hard])
        hard_m = evaluate(y_hard, hard_proba)
        hard_cov = coverage_table(y_hard, hard_proba, threshold)
        by_note = {}
        for note in sorted({r["note"] for r in hard}):
            m = np.array([r["note"] == note for r in hard])
            c = coverage_table(y_hard[m], hard_proba[m], threshold)
            by_note[note] = (int(m.sum()), float((hard_proba[m].argmax(1) == y_hard[m]).mean()),
                             1 - c["coverage_above"], c["accuracy_above"])
        # the least flagging any threshold needs to reach the unflagged-accuracy target here
        reach = [coverage_table(y_hard, hard_proba, t) for t in (round(0.34 + 0.01 * i, 2) for i in range(66))]
        reach = [(1 - c["coverage_above"], c["threshold"]) for c in reach if c["accuracy_above"] >= REVIEW_TARGET_ACCURACY]
        hards[hname] = {"y": y_hard, "proba": hard_proba, "m": hard_m, "cov": hard_cov, "by_note": by_note,
                        "reach": min(reach) if reach else None}
        log(f"{hname} ({len(hard)} hand-written listings, report only): accuracy {hard_m.accuracy:.4f}, flagged "
            f"{1 - hard_cov['coverage_above']:.2%}, unflagged accuracy {hard_cov['accuracy_above']:.4f} "
            f"({hard_cov['n_above'] - round(hard_cov['accuracy_above'] * hard_cov['n_above'])} wrong unflagged)")

    # Real-product sanity list.
    real = real_products()
    real_proba = ort_text_proba(sess, [r["text"] for r in real])
    real_ok = sum(LABELS[int(p.argmax())] == r["category"] for p, r in zip(real_proba, real))
    log(f"ml/tests/real_products.tsv: {real_ok}/{len(real)} correct")

    # Texts without any known n-gram, unknown words, and whitespace runs.
    blank = ["", "?", "日本語 🙂", "zorbek quintalix", "XKT-4471 VRML"]
    blank_proba = ort_text_proba(sess, blank)
    ws_texts = ["PASTILHA  DE   FREIO\tDIANT", "cimento  cp ii 50kg", "mouse \t\t usb\n\nlogitech"]
    ws_diff = float(np.abs(ort_text_proba(sess, ws_texts) - pipe.predict_proba(ws_texts)).max())
    log("unknown texts -> " + "; ".join(f"{t!r}: {p.max():.2f}" for t, p in zip(blank, blank_proba))
        + f"; whitespace runs: ONNX vs scikit-learn max |diff| {ws_diff:.1e}")

    png = out_dir / "product_category_confusion.png"
    plot_confusion(test.confusion, f"{TEXT_MODEL_NAME} {TEXT_MODEL_VERSION}: held-out test (n={test.n})", png)
    sets = {"catalog test": (y_test, onnx_test), "listing-style test": (data.y["styled_test"], styled_proba)}
    sets.update({k: (h["y"], h["proba"]) for k, h in hards.items()})
    rel_png = out_dir / "product_category_reliability.png"
    plot_reliability(sets, f"{TEXT_MODEL_NAME} {TEXT_MODEL_VERSION}: reliability (held-out data)", rel_png)
    trade_png = out_dir / "product_category_review_tradeoff.png"
    plot_tradeoff(sets, threshold, f"{TEXT_MODEL_NAME} {TEXT_MODEL_VERSION}: review threshold trade-off", trade_png)
    ece = {k: expected_calibration_error(y, p) for k, (y, p) in sets.items()}
    ece["threshold split"] = expected_calibration_error(data.y["thr"], thr_proba)
    log(f"wrote {png.name}, {rel_png.name}, {trade_png.name}; ECE " + ", ".join(f"{k} {v:.3f}" for k, v in ece.items()))

    size = path.stat().st_size
    log("measuring the written file's speed (batch 1, 64, 256) ...")
    speeds = {b: onnx_rows_per_second(path.read_bytes(), data.texts["val"], batch=b,
                                      rows=512 if b == 1 else SPEED_ROWS, passes=3) for b in (1, 64, 256)}
    log("shipped file: " + ", ".join(f"batch {b}: {v:,.0f} rows/s" for b, v in speeds.items()))
    extra = {"speeds": speeds, "typo_changed": typo_changed, "typo_n": len(typo_texts), "contenders": contenders,
             "selection_note": selection_note, "blank": list(zip(blank, blank_proba)), "ws_diff": ws_diff,
             "n_nodes": len(model.graph.node), "styled": styled, "styled_cov": styled_cov, "hards": hards, "ece": ece, "typo_cov": typo_cov,
             "elapsed": time.time() - log.t0, "thr_only": thr_only,
             "thr_only_test": coverage_table(y_test, onnx_test, thr_only)}
    card = text_card(seed, data, results, chosen, threshold, val_cov, test, test_cov, thr, parity, novelty,
                     worst, examples, real_ok, len(real), size, extra)
    (out_dir / "product_category.md").write_text(card, encoding="utf-8")
    log(f"wrote {path} ({size / 1e6:.2f} MB) and product_category.md")
    return {"chosen": chosen, "threshold": threshold, "test": test, "size": size}


def real_products() -> list[dict]:
    from contract import REAL_PRODUCTS_PATH, compose_text
    rows = []
    with open(REAL_PRODUCTS_PATH, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        assert header == ["category", "name", "brand", "description"], header
        for line in f:
            if not line.strip():
                continue
            cols = (line.rstrip("\n").split("\t") + ["", "", ""])[:4]
            row = dict(zip(header, cols))
            row["text"] = compose_text(row["name"], row["brand"], row["description"])
            rows.append(row)
    return rows


def text_card(seed, data, results, chosen, threshold, val_cov, test, test_cov, thr, parity, novelty,
              worst, examples, real_ok, real_n, size, extra) -> str:
    cat = data.products
    held_types = [t.key for t in catalog_mod.PRODUCT_TYPES if t.holdout]
    n_types = len(catalog_mod.PRODUCT_TYPES)
    variants_md = ["| variant | features | threshold-split accuracy | macro-F1 | log-loss | typo-stressed macro-F1 "
                   "| TF-IDF features | ONNX rows/s (batch 64) | its threshold (flagged) | contender |",
                   "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |"]
    for name, r in results.items():
        mark = " **(chosen)**" if name == chosen else ""
        variants_md.append(f"| `{name}`{mark} | {_FEATURE_NOTES[VARIANTS[name][0]]} | {r['val'].accuracy:.4f} "
                           f"| {r['val'].macro_f1:.4f} | {r['val'].log_loss:.4f} | {r['typo'].macro_f1:.4f} "
                           f"| {r['n_features']} | {r['rows_per_s']:,.0f} | {r['threshold']:.2f} ({r['flagged']:.1%}) "
                           f"| {'yes' if name in extra['contenders'] else ''} |")
    blank_md = "; ".join(f"`{t!r}` -> {p.max():.2f}" for t, p in extra["blank"])
    note_md = f"\n\nWarning at training time: {extra['selection_note']}." if extra["selection_note"] else ""
    speeds = extra["speeds"]
    nov_md = ["| test subset | n | accuracy |", "| --- | ---: | ---: |"]
    for label, (n, acc) in novelty.items():
        nov_md.append(f"| {label} | {n} | {acc:.4f} |")
    worst_md = "\n".join(f"- {k}: {v}" for k, v in worst) or "- none"
    ex_md = "\n".join(f"- `{t}`: {c} predicted {p} ({cf:.2f})" for t, c, p, cf in examples) or "- none"
    styled, sc, hards = extra["styled"], extra["styled_cov"], extra["hards"]
    h2, h1 = hards["hard set 2"], hards["hard set 1"]
    hard, hc = h2["m"], h2["cov"]

    def wrong(c):
        return c["n_above"] - round(c["accuracy_above"] * c["n_above"])

    def reach(name, h):
        if h["reach"] is None:
            return f"on {name} no threshold up to 0.99 reaches it"
        return f"on {name} it takes a threshold of {h['reach'][1]:.2f} and {h['reach'][0]:.1%} flagged"
    reach_md = (f"The least flagging that reaches {REVIEW_TARGET_ACCURACY:.1%} unflagged accuracy: " + reach("hard set 2", h2)
                + "; " + reach("hard set 1", h1) + " (see the trade-off curve). The threshold is not tuned on them.")
    hard_wrong = wrong(hc)
    note_rows = ["| kind (`note`) | set 2: n | accuracy | flagged | unflagged accuracy | set 1: n | accuracy | flagged | unflagged accuracy |",
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for note in sorted(set(h2["by_note"]) | set(h1["by_note"])):
        cells = []
        for h in (h2, h1):
            n, acc, fl, ua = h["by_note"].get(note, (0, float("nan"), float("nan"), float("nan")))
            cells.append(f"{n} | {acc:.4f} | {fl:.1%} | {ua:.4f}")
        note_rows.append(f"| {note} | " + " | ".join(cells) + " |")

    def ok(v, target, ge=True):
        return "met" if (v >= target if ge else v <= target) else "**not met**"
    ece = extra["ece"]
    return f"""# Model card: {TEXT_MODEL_NAME} {TEXT_MODEL_VERSION}

File: `model/product_category.onnx` ({size / 1e6:.2f} MB). The default model of the worker.
Text model v2 (issue 23): trained on the synthetic catalog **plus real-world listing styles**
(marketplace titles, English and mixed names, ERP caps, extra product families) and noise rows,
with a **calibration fitted on held-out data** and a review threshold chosen for a trustworthy
`needs_review` flag. Figures on the project's own hand-written hard sets are below (set 2 is the
final, untouched one; see `ml/eval/README.md`).

## Summary

| | held-out catalog test | listing-style test | hard set 2 (final) | target (hard set 2) | hard set 1 |
| --- | ---: | ---: | ---: | --- | ---: |
| examples | {test.n} | {styled.n} | {hard.n} | | {h1['m'].n} |
| accuracy | {test.accuracy:.4f} | {styled.accuracy:.4f} | **{hard.accuracy:.4f}** | >= 0.99: {ok(hard.accuracy, 0.99)} | {h1['m'].accuracy:.4f} |
| flagged (`needs_review`) | {1 - thr['coverage_above']:.2%} | {1 - sc['coverage_above']:.2%} | **{1 - hc['coverage_above']:.2%}** | <= 10%: {ok(1 - hc['coverage_above'], REVIEW_MAX_FLAGGED, ge=False)} | {1 - h1['cov']['coverage_above']:.2%} |
| accuracy of unflagged results | {thr['accuracy_above']:.4f} ({wrong(thr)} wrong of {thr['n_above']}) | {sc['accuracy_above']:.4f} ({wrong(sc)} wrong of {sc['n_above']}) | **{hc['accuracy_above']:.4f}** ({hard_wrong} wrong of {hc['n_above']}) | >= 0.995: {ok(hc['accuracy_above'], REVIEW_TARGET_ACCURACY)} | {h1['cov']['accuracy_above']:.4f} ({wrong(h1['cov'])} wrong of {h1['cov']['n_above']}) |
| expected calibration error | {ece['catalog test']:.3f} | {ece['listing-style test']:.3f} | {ece['hard set 2']:.3f} | | {ece['hard set 1']:.3f} |

`review_threshold = {threshold:.2f}`. The previous model (2026.11.25, catalog only, threshold 0.79) scored
0.9820 on the catalog test (98.95% of its unflagged results right) and, on hard set 1, 0.9647
accuracy with 4.3% flagged and 0.9816 unflagged accuracy (9 confident errors).

## Contract

- Input `{TEXT_INPUT}`: tensor(string) `[N, 1]`, one product per row. The text is the trimmed,
  non-empty `name`, `brand` and `description`, in that order, joined by one space
  (`compose_text` in `ml/contract.py`; the worker must compose it the same way). Nothing else
  is normalised outside the graph: lowercasing and tokenisation are ONNX nodes.
- Output `{OUTPUT}`: tensor(float) `[N, {len(LABELS)}]`, rows sum to 1, columns in the order of
  the `labels` metadata: {", ".join(f"`{c}`" for c in LABELS)}.
- `metadata_props`: `labels`, `label_names`, `model_name={TEXT_MODEL_NAME}`,
  `model_version={TEXT_MODEL_VERSION}`, `review_threshold={threshold:.2f}`, plus `training_variant`,
  `training_seed`, `input_text` (informative). Unchanged from v1 but for the values.
- Opset: ai.onnx {TARGET_OPSET['']}, ai.onnx.ml {TARGET_OPSET['ai.onnx.ml']}, com.microsoft `Tokenizer`
  (all in the standard ONNX Runtime CPU build). The string nodes use locale `C.UTF-8`, so no
  other locale must be installed.

## Data

1. Synthetic Portuguese ERP catalog from `ml/catalog.py` (seed {seed}): {n_types} product types
   (real-world product families, brands, vehicle models, specs and units), with ERP-style noise
   (case, abbreviations, missing accents, units written in many ways, part numbers, codes,
   typos, word order, truncation) and families that exist in more than one category (cables,
   batteries, filters, lamps, paints, tools, switches, sensors, pumps...). Honest split: brands
   and vehicle models belong to exactly one split (stable hash, ~60/20/20), ~16% of the
   product-name variants are reserved for val or test, and {len(held_types)} product types never
   appear in training ({", ".join(f"`{k}`" for k in held_types)}). Unchanged from v1: its test split
   is the same {len(cat['test'])} products as before.
2. Listing styles (`ml/styles.py`, new in v2), built per split from that split's own products, so
   the honest split holds: catalog products rewritten as marketplace titles (title case, years,
   "frete grátis", "kit", context words such as "carro", "pc gamer", "obra"), English and
   half-English names (a Portuguese -> English product dictionary), terse ERP caps; and
   {len(styles.EXTRA_TYPES)} extra product families the catalog lacks, made by the catalog's own
   product builder with split brands (automotive LED headlight bulbs and LED strips, car trim
   tape, car accessories and electronics, motorcycle parts, PC case dust filters, RGB strips for
   PCs, CMOS/notebook/UPS batteries, peripherals, networking; LED strips for plaster ceilings,
   wall mounts, workshop compressors, finishing). Nobody copied a hard-set row into it (see
   "Limits" for what that does and does not guarantee).
3. Noise rows (training only): {styles.NOISE_ROWS} made-up words and codes, each given once with
   every label, so that an n-gram seen only there pulls towards no class: unknown words lower
   the confidence instead of falling to one category.

| split | rows | role |
| --- | ---: | --- |
| catalog train + listing-style train + noise | {len(data.texts['train_all'])} | fits TF-IDF and the SVM |
| `cal`: half of catalog val + listing-style val | {len(data.texts['cal'])} | fits the calibration only |
| `thr`: the other half | {len(data.texts['thr'])} | chooses the variant and the review threshold |
| catalog test (held out) | {len(data.texts['test'])} | report |
| listing-style test (held out) | {len(data.texts['styled_test'])} | report |
| hard set 2 `ml/eval/hard_listings_2.tsv` | {hard.n} | report only, never used for a choice |
| hard set 1 `ml/eval/hard_listings.tsv` | {h1['m'].n} | report only (its aggregate was seen once during development) |

## Training

`ml/train.py` fits each variant (word 1-2-grams, `min_df=2`, at most 30,000; plus char n-grams,
`analyzer="char"`, `min_df=5`, at most 40,000; TF-IDF, each branch L2-normalised) with one `LinearSVC(C=0.5)` **without intercept** (a text with
no known n-gram scores 0 for every class) on the training rows, then fits a per-class sigmoid
calibration (`CalibratedClassifierCV(FrozenEstimator(svm), method="sigmoid")`) on the `cal`
split, which neither the vocabulary nor the SVM has seen. It scores each on the `thr` split, on
a typo-stressed copy of it (one more typo in each name: {extra['typo_changed']} of {extra['typo_n']} changed) and on
ONNX speed (rows/s, batch {SPEED_BATCH}, one thread, median of {SPEED_PASSES} passes; a shared 2-core machine: expect
+-20%). Selection rule: contenders are within {SELECTION_TOLERANCE} of the best macro-F1 on both (as in v1);
**the contender with the cheapest graph is chosen** (fewest n-gram orders looked up per text;
measured rows/s only break ties: on this shared machine they swap between runs).{note_md}

{chr(10).join(variants_md)}

Chosen: **`{chosen}`**: {VARIANT_NOTES[chosen]}. Training took {extra['elapsed'] / 60:.1f} min on this
2-core machine, with a progress line per stage.

## Calibration

Probabilities are calibrated on held-out data (`cal`), not on the rows the SVM was fitted on.

![reliability diagram](product_category_reliability.png)

Expected calibration error (10 bins of the top probability): threshold split {ece['threshold split']:.3f},
catalog test {ece['catalog test']:.3f}, listing-style test {ece['listing-style test']:.3f}, hard set 2
{ece['hard set 2']:.3f}, hard set 1 {ece['hard set 1']:.3f}. Texts with no or only unknown evidence get low confidence:
{blank_md}.

## Review threshold

`review_threshold = {threshold:.2f}`. Rule: the smallest t on 0.50, 0.51, ..., 0.99 such that the accuracy of
the results with confidence >= t is at least {REVIEW_TARGET_ACCURACY:.1%} **with 95% confidence** (one-sided Wilson
lower bound, not the point estimate) **both** on the `thr` split and on its typo-stressed copy.
Both conditions are margins for new data: validation is one draw of unseen vocabulary and is
calibrated on its twin half, so it flatters. With the point estimate on the `thr` split alone
the rule would pick {extra['thr_only']:.2f}, which gives {extra['thr_only_test']['accuracy_above']:.2%} unflagged accuracy on the catalog test
({1 - extra['thr_only_test']['coverage_above']:.1%} flagged), below the promise.
The worker sets `needs_review` when the top probability is below it; `REVIEW_THRESHOLD`
overrides it.

![flagged share vs unflagged accuracy](product_category_review_tradeoff.png)

Threshold split (where it was chosen; the last row is the chosen threshold):

{md_coverage(val_cov)}

Typo-stressed threshold split at {threshold:.2f}: {1 - extra['typo_cov']['coverage_above']:.1%} flagged, unflagged accuracy
{extra['typo_cov']['accuracy_above']:.4f}.

Held-out catalog test:

{md_coverage(test_cov)}

## Held-out catalog test metrics (through ONNX Runtime, the shipped file)

{md_metrics(test)}

![confusion matrix](product_category_confusion.png)

{chr(10).join(nov_md)}

ONNX Runtime vs scikit-learn on the test split: max |probability difference|
{parity['max_abs_diff']:.2e}, argmax agreement {parity['argmax_agreement']:.4f}.
Hand-written `ml/tests/real_products.tsv`: {real_ok}/{real_n} correct.

## Hard sets (`ml/eval/`, hand-written, report only)

Real-style listings written by hand for issue 23 (see `ml/eval/README.md`): marketplace titles,
ERP caps, English and mixed names, typos, ambiguous families decided by context, brand-only and
description-only rows. Set 2 ({hard.n} rows, the final figures): accuracy **{hard.accuracy:.4f}**; at the
threshold {1 - hc['coverage_above']:.2%} flagged, unflagged accuracy **{hc['accuracy_above']:.4f}**, flagged results
{hc['accuracy_below']:.1%} correct. Set 1 ({h1['m'].n} rows): accuracy {h1['m'].accuracy:.4f}, {1 - h1['cov']['coverage_above']:.2%} flagged,
unflagged accuracy {h1['cov']['accuracy_above']:.4f}.

{chr(10).join(note_rows)}

{reach_md}

`ml/tests/test_hard_set.py` asserts the targets on the shipped file.

## What still confuses it

Most frequent catalog-test errors (product type, true -> predicted):

{worst_md}

Unflagged mistakes on the catalog test (confidence >= threshold), examples:

{ex_md}

## Limits

- Both hard sets were written by the same engineer who wrote the listing styles and the extra
  families, on the same morning, after reading issue 23's examples (automotive LED bulbs and
  strips, car trim tape, PC dust filters). No row was copied and no hard-set error was looked
  at to change the model, but they share an author's idea of "real-world": the hard-set
  figures are likely optimistic for listings written by someone else. A hard set from another
  person, or labelled production data, is the real test.
- The catalog's honest split gives every brand and vehicle model to one split by a hash, and the
  SVM is fitted on train-split vocabulary only (~60% of the lexicon): Bosch, Hilux, Amarok,
  Kingston and Cofap, for instance, are test-split words the shipped model has never seen, and
  Moura, Razer, Redragon and Contitech val-split words only the calibration saw. On real
  listings such names carry no signal. After the model was final, the hard-set-2 errors were
  read (for this card, not to change anything): the brand-decided rows (0.72) and several
  errors turn on such names or on words no data has (TPMS, ceiling fan, EPS slab). Shipping a
  model fitted on the whole lexicon needs another way to measure held-out figures (vocabulary
  folds, or labelled real data); not done here.
- With ~450 rows, one error moves accuracy by 0.2 points: the hard-set figures are estimates
  with a +-0.5-point uncertainty, not guarantees.
- Calibration holds on data like the held-out splits; on new kinds of products (categories of
  goods never seen, other languages) confidence can still be wrong. Watch the flagged rate in
  production: well above the rates in this card means new kinds of products are arriving.
- The data are synthetic plus hand-written styles; retrain on labelled real products when they
  exist (`make train DATA=...`).

## Runtime notes

- The graph (`ml/text_graph.py`, {extra['n_nodes']} nodes) is lookups and sums: tokenise, map n-grams to
  vocabulary columns (`LabelEncoder`), gather each n-gram's idf-weighted, calibration-scaled
  classifier weights, add them per text, divide by the exact TF-IDF L2 norm, per-class sigmoid,
  normalise. Cost grows with text length, not vocabulary size.
- Throughput of this file at training time (ONNX Runtime {ort.__version__} from Python, one intra-op
  thread, shared machine): batch 1: {speeds[1]:,.0f} rows/s, batch 64: {speeds[64]:,.0f} rows/s, batch 256: {speeds[256]:,.0f} rows/s.
  `{BENCH_COMMAND}` compares any two files the same way.
- A batch must have at least one row: ONNX Runtime rejects `[0, 1]` string inputs.
- Whitespace runs are collapsed like scikit-learn's char analyzer (max |difference| {extra['ws_diff']:.1e}).
  Lowercasing is ONNX Runtime's (C.UTF-8), word tokens are RE2's `[\\p{{L}}\\p{{N}}_]{{2,}}`.

## Reproduce

```
{RETRAIN_COMMAND}
{TEST_COMMAND}
{BENCH_COMMAND}
```

Same seed => same data, same model, same metrics, byte-identical ONNX file (scikit-learn
{_version('sklearn')}, skl2onnx {_version('skl2onnx')}, onnx {onnx.__version__}, onnxruntime {ort.__version__},
numpy {np.__version__}; pinned in `ml/requirements.txt`). Only rows/s and training time vary.
"""


def _version(mod: str) -> str:
    return __import__(mod).__version__


# --------------------------------------------------------------------------
# Features model
# --------------------------------------------------------------------------

def train_features(seed: int, out_dir: Path) -> dict:
    t0 = time.time()
    X, y = load_feature_data(seed)
    model = fit_feature_model(X, y)
    val_proba = model.predict_proba(X["val"])
    val = evaluate(y["val"], val_proba)
    threshold = choose_threshold(y["val"], val_proba)
    props = metadata(FEATURES_MODEL_NAME, threshold, {"training_seed": str(seed)})
    onx = export_feature_model(model, props)
    path = out_dir / FEATURES_MODEL_PATH.name
    onnx.save(onx, path)
    sess = ort_session(path)
    onnx_test = ort_feature_proba(sess, X["test"])
    skl_test = model.predict_proba(X["test"])
    max_diff = float(np.abs(onnx_test - skl_test).max())
    test = evaluate(y["test"], onnx_test)
    thr = coverage_table(y["test"], onnx_test, threshold)
    print(f"[features] MLP 16->32->3: {model.n_iter_} epochs, val accuracy {val.accuracy:.4f}, "
          f"review_threshold {threshold:.2f}, ONNX vs scikit-learn max |diff| {max_diff:.2e}")
    print(fmt_metrics(test, "[features] held-out test (ONNX Runtime)"))
    png = out_dir / "product_category_features_confusion.png"
    plot_confusion(test.confusion, f"{FEATURES_MODEL_NAME} {MODEL_VERSION}: test (n={test.n})", png)
    size = path.stat().st_size
    card = f"""# Model card: {FEATURES_MODEL_NAME} {MODEL_VERSION}

File: `model/product_category_features.onnx` ({size / 1e3:.1f} kB). Select it with
`MODEL_PATH=model/product_category_features.onnx`; events must then carry `features`.

## Contract

- Input `{FEATURES_INPUT}`: tensor(float) `[N, {NUM_FEATURES}]`.
- Output `{OUTPUT}`: tensor(float) `[N, {len(LABELS)}]`, rows sum to 1, columns in `labels` order:
  {", ".join(f"`{c}`" for c in LABELS)}. The exporter's `label` output was removed.
- `metadata_props`: `labels`, `label_names`, `model_name={FEATURES_MODEL_NAME}`,
  `model_version={MODEL_VERSION}`, `review_threshold={threshold:.2f}`, `training_seed`.

## Data and training

The seed article's didactic setup: stand-ins for product embeddings, {NUM_FEATURES} features drawn
from three Gaussian clusters (scale {FEATURE_SCALE}) centred at
{", ".join(f"{c} {v:+.1f}" for c, v in FEATURE_CENTERS.items())}; {FEATURE_SIZES['train']} / {FEATURE_SIZES['val']} /
{FEATURE_SIZES['test']} examples per class for train / val / test, independent draws (seed {seed}).
Model: scikit-learn `MLPClassifier` {NUM_FEATURES} -> 32 (ReLU) -> {len(LABELS)} (softmax), Adam,
learning rate 0.01, `random_state={SEED}`, {model.n_iter_} epochs; exported with skl2onnx
(`zipmap: False`).

The clusters are far apart, so the task is trivially separable: this model exists to exercise the
`features` input path of the worker (and as the article's example), not to categorise real
products. Real embeddings would need a real evaluation.

## Metrics (held-out test, through ONNX Runtime)

{md_metrics(test)}

![confusion matrix](product_category_features_confusion.png)

Validation accuracy {val.accuracy:.4f}. ONNX Runtime vs scikit-learn: max |probability difference|
{max_diff:.2e}.

## Review threshold

`review_threshold = {threshold:.2f}`, by the same rule as the text model (smallest t in 0.50..0.95
with validation accuracy >= {REVIEW_TARGET_ACCURACY:.0%} above t). On test: coverage
{thr['coverage_above']:.4f}, accuracy above {thr['accuracy_above']:.4f}, {thr['n_below']} below.

## Reproduce

```
{RETRAIN_COMMAND}
{TEST_COMMAND}
```
"""
    (out_dir / "product_category_features.md").write_text(card, encoding="utf-8")
    print(f"[features] wrote {path} ({size / 1e3:.1f} kB), {png.name}, product_category_features.md "
          f"({time.time() - t0:.1f}s)")
    return {"threshold": threshold, "test": test, "size": size}


def main() -> None:
    ap = argparse.ArgumentParser(description="Train and export the product-category models: the bundled ones from the "
                                             "synthetic catalog, or with --data a text model on your own products.")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", type=Path, default=None,
                    help="output directory (default model/; with --data model/custom/), or with --data an .onnx file")
    ap.add_argument("--variants", default=",".join(DEFAULT_TEXT_VARIANTS),
                    help=f"comma-separated text variants to compare (default: the v2 ones; any of {', '.join(VARIANTS)})")
    ap.add_argument("--only", choices=["text", "features"], default=None)
    own = ap.add_argument_group("your own data (--data)")
    own.add_argument("--data", type=Path, help="CSV or TSV with a header: name, category (required), brand, "
                                               "description, category_name (optional)")
    own.add_argument("--name", help="model_name (default: product-category-<file name>)")
    own.add_argument("--version", help="model_version (default: <date>-<first 8 hex of the file's digest>)")
    own.add_argument("--variant", default="word12+char34_svm1", choices=list(VARIANTS), help="text pipeline to fit")
    own.add_argument("--min-examples", type=int, default=20, help="fewest distinct rows a category may have")
    own.add_argument("--max-train-rows", type=int, default=300_000,
                     help="training rows kept (a uniform sample beyond it: bounded memory on large files)")
    args = ap.parse_args()
    if args.data is not None:
        import custom
        import dataset
        args.out = args.out or MODEL_DIR / "custom"
        try:
            custom.run(args)
        except dataset.DataError as e:
            sys.exit(f"error: {e}\nno model was written")
        return
    args.out = args.out or MODEL_DIR
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if args.only in (None, "features"):
        train_features(args.seed, args.out)
    if args.only in (None, "text"):
        train_text(args.seed, args.out, args.variants.split(","))
    print(f"done in {time.time() - t0:.1f}s; reproduce with: {RETRAIN_COMMAND}")


if __name__ == "__main__":
    main()
