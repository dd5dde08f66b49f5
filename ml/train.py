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
import os
import random
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
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
import text_graph  # noqa: E402
from contract import (FEATURES_INPUT, FEATURES_MODEL_NAME, FEATURES_MODEL_PATH, LABELS,  # noqa: E402
                      MODEL_DIR, MODEL_VERSION, NUM_FEATURES, OUTPUT, SEED, TEXT_INPUT,
                      TEXT_MODEL_NAME, TEXT_MODEL_PATH, metadata)

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
}
_FEATURE_NOTES = {"word12": "word 1-2-grams", "word12+char14": "word 1-2 + char 1-4",
                  "word12+char24": "word 1-2 + char 2-4", "word12+char34": "word 1-2 + char 3-4",
                  "word12+char35": "word 1-2 + char 3-5"}
VARIANT_NOTES = {name: f"{_FEATURE_NOTES[f]} TF-IDF -> {CLASSIFIERS[c][1]}" for name, (f, c) in VARIANTS.items()}


def build_variant(name: str) -> Pipeline:
    """A fresh, unfitted pipeline for a variant (deterministic when fitted)."""
    feats, clf = VARIANTS[name]
    return Pipeline([("features", FeatureUnion(FEATURE_SETS[feats]())), ("clf", CLASSIFIERS[clf][0]())])


@dataclass
class TextData:
    texts: dict[str, list[str]]
    y: dict[str, np.ndarray]
    products: dict[str, list]


def load_text_data(seed: int = SEED) -> TextData:
    cat = catalog_mod.generate_catalog(seed)
    texts = {s: [p.text for p in ps] for s, ps in cat.items()}
    y = {s: np.array([LABELS.index(p.category) for p in ps], dtype=np.int64) for s, ps in cat.items()}
    return TextData(texts, y, cat)


def fit_text_variant(name: str, data: TextData) -> Pipeline:
    pipe = build_variant(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(data.texts["train"], data.y["train"])
    return pipe


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
    ranked = sorted(contenders, key=lambda n: (-results[n]["rows_per_s"], variants.index(n)))
    note = ""
    if len(ranked) > 1 and results[ranked[0]]["rows_per_s"] < SPEED_CLOSE * results[ranked[1]]["rows_per_s"]:
        note = (f"{ranked[0]} ({results[ranked[0]]['rows_per_s']:.0f} rows/s) is less than {SPEED_CLOSE}x faster than "
                f"{ranked[1]} ({results[ranked[1]]['rows_per_s']:.0f} rows/s): the choice may depend on machine "
                f"load; pin it with --variants if needed")
    return ranked[0], contenders, note


def train_text(seed: int, out_dir: Path, variants: list[str]) -> dict:
    t0 = time.time()
    data = load_text_data(seed)
    print("[text] catalog: " + ", ".join(f"{s}={len(v)}" for s, v in data.texts.items())
          + f" ({time.time() - t0:.1f}s)")

    typo_texts, typo_changed = typo_stressed(data.products["val"], seed)
    print(f"[text] typo-stressed validation: one more typo in {typo_changed}/{len(typo_texts)} names")

    results = {}
    fitted = {}
    for name in variants:
        t = time.time()
        pipe = fit_text_variant(name, data)
        fit_s = time.time() - t
        val = evaluate(data.y["val"], pipe.predict_proba(data.texts["val"]))
        typo = evaluate(data.y["val"], pipe.predict_proba(typo_texts))
        n_feats = sum(len(v.vocabulary_) for _, v in pipe.named_steps["features"].transformer_list)
        speed = onnx_rows_per_second(export_text_model(pipe), data.texts["val"])
        results[name] = {"val": val, "typo": typo, "fit_seconds": fit_s, "n_features": n_feats, "rows_per_s": speed}
        fitted[name] = pipe
        print(f"[text] variant {name:20s} fit {fit_s:5.1f}s features {n_feats:6d} "
              f"val accuracy {val.accuracy:.4f} macro-F1 {val.macro_f1:.4f} log-loss {val.log_loss:.4f} "
              f"val+typo macro-F1 {typo.macro_f1:.4f} ONNX {speed:7.0f} rows/s")

    chosen, contenders, selection_note = select_variant(results, variants)
    pipe = fitted[chosen]
    print(f"[text] contenders: {', '.join(contenders)}; chosen: {chosen}")
    if selection_note:
        print(f"[text] NOTE: {selection_note}")

    val_proba = pipe.predict_proba(data.texts["val"])
    threshold = choose_threshold(data.y["val"], val_proba)
    val_cov = [coverage_table(data.y["val"], val_proba, t) for t in (0.5, 0.6, 0.7, 0.8, 0.9, threshold)]
    print(f"[text] review_threshold (smallest t with val accuracy >= {REVIEW_TARGET_ACCURACY} above t): {threshold:.2f}")

    props = metadata(TEXT_MODEL_NAME, threshold, {
        "training_variant": chosen,
        "training_seed": str(seed),
        "input_text": "trimmed non-empty name, brand, description joined by one space",
    })
    model = export_text_model(pipe, props)
    path = out_dir / TEXT_MODEL_PATH.name
    onnx.save(model, path)
    sess = ort_session(path)

    # Parity and held-out evaluation through ONNX Runtime (what ships).
    test_texts, y_test = data.texts["test"], data.y["test"]
    onnx_test = ort_text_proba(sess, test_texts)
    skl_test = pipe.predict_proba(test_texts)
    parity = {"max_abs_diff": float(np.abs(onnx_test - skl_test).max()),
              "argmax_agreement": float((onnx_test.argmax(1) == skl_test.argmax(1)).mean())}
    print(f"[text] ONNX vs scikit-learn on test: max |diff| {parity['max_abs_diff']:.2e}, "
          f"argmax agreement {parity['argmax_agreement']:.4f}")
    test = evaluate(y_test, onnx_test)
    print(fmt_metrics(test, "[text] held-out test (ONNX Runtime)"))
    test_cov = [coverage_table(y_test, onnx_test, t) for t in (0.5, 0.6, 0.7, 0.8, 0.9, threshold)]
    thr = coverage_table(y_test, onnx_test, threshold)
    print(f"[text] test at threshold {threshold:.2f}: coverage {thr['coverage_above']:.4f}, "
          f"accuracy above {thr['accuracy_above']:.4f}, accuracy below {thr['accuracy_below']:.4f} (n={thr['n_below']})")

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
        if conf[i] >= 0.8 and len(examples) < 8:
            examples.append((prods[i].text, prods[i].category, LABELS[pred[i]], float(conf[i])))
    for label, (n, acc) in novelty.items():
        print(f"[text] test accuracy on {label}: {acc:.4f} (n={n})")
    print("[text] most frequent test errors: " + "; ".join(f"{k}: {v}" for k, v in worst[:8]))

    # Real-product sanity list.
    real = real_products()
    real_proba = ort_text_proba(sess, [r["text"] for r in real])
    real_ok = sum(LABELS[int(p.argmax())] == r["category"] for p, r in zip(real_proba, real))
    print(f"[text] ml/tests/real_products.tsv: {real_ok}/{len(real)} correct")
    for r, p in zip(real, real_proba):
        if LABELS[int(p.argmax())] != r["category"]:
            print(f"[text]   MISS {r['category']} -> {LABELS[int(p.argmax())]} ({p.max():.2f}): {r['text']}")

    # Texts without any known n-gram, and whitespace runs (scikit-learn collapses them).
    blank = ["", "?", "日本語 🙂"]
    blank_proba = ort_text_proba(sess, blank)
    ws_texts = ["PASTILHA  DE   FREIO\tDIANT", "cimento  cp ii 50kg", "mouse \t\t usb\n\nlogitech"]
    ws_diff = float(np.abs(ort_text_proba(sess, ws_texts) - pipe.predict_proba(ws_texts)).max())
    print(f"[text] no known n-gram -> {np.round(blank_proba[0], 3).tolist()}; whitespace runs: "
          f"ONNX vs scikit-learn max |diff| {ws_diff:.1e}")

    png = out_dir / "product_category_confusion.png"
    plot_confusion(test.confusion, f"{TEXT_MODEL_NAME} {MODEL_VERSION}: held-out test (n={test.n})", png)

    size = path.stat().st_size
    speeds = {b: onnx_rows_per_second(path.read_bytes(), data.texts["val"], batch=b,
                                      rows=512 if b == 1 else SPEED_ROWS, passes=3) for b in (1, 64, 256)}
    print("[text] shipped file: " + ", ".join(f"batch {b}: {v:,.0f} rows/s" for b, v in speeds.items()))
    extra = {"speeds": speeds, "typo_changed": typo_changed, "typo_n": len(typo_texts), "contenders": contenders,
             "selection_note": selection_note, "blank": list(zip(blank, blank_proba)), "ws_diff": ws_diff,
             "n_nodes": len(model.graph.node)}
    card = text_card(seed, data, results, chosen, threshold, val_cov, test, test_cov, thr, parity, novelty,
                     worst, examples, real_ok, len(real), size, extra)
    (out_dir / "product_category.md").write_text(card, encoding="utf-8")
    print(f"[text] wrote {path} ({size / 1e6:.2f} MB), {png.name}, product_category.md ({time.time() - t0:.1f}s)")
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
    brands = {s: len({p.brand.lower() for p in ps if p.brand}) for s, ps in cat.items()}
    variants_md = ["| variant | model | val accuracy | val macro-F1 | val log-loss | val+typo macro-F1 "
                   "| TF-IDF features | ONNX rows/s (batch 64) | contender |",
                   "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: |"]
    for name, r in results.items():
        mark = " **(chosen)**" if name == chosen else ""
        variants_md.append(f"| `{name}`{mark} | {VARIANT_NOTES[name]} | {r['val'].accuracy:.4f} | {r['val'].macro_f1:.4f} "
                           f"| {r['val'].log_loss:.4f} | {r['typo'].macro_f1:.4f} | {r['n_features']} "
                           f"| {r['rows_per_s']:,.0f} | {'yes' if name in extra['contenders'] else ''} |")
    blank_md = "; ".join(f"`{t!r}` -> [{', '.join(f'{v:.2f}' for v in p)}]" for t, p in extra["blank"])
    if max(float(p.max()) for _, p in extra["blank"]) < threshold:
        why = " (the SVM has no intercept)" if VARIANTS[chosen][1] == "svm1" else ""
        blank_md = (f"A text without any known n-gram (empty, punctuation, another script) scores 0 for every "
                    f"class{why} and gets near-uniform probabilities, below the review threshold: {blank_md}.")
    else:
        blank_md = (f"**A text without any known n-gram (empty, punctuation, another script) gets a confident "
                    f"answer, above the review threshold**: {blank_md}.")
    note_md = f"\n\nWarning at training time: {extra['selection_note']}." if extra["selection_note"] else ""
    speeds = extra["speeds"]
    typo_md = "."
    if "word12_svm1" in results and chosen != "word12_svm1":
        w, c = results["word12_svm1"], results[chosen]
        typo_md = (f": the word-only `word12_svm1` loses {100 * (w['val'].macro_f1 - w['typo'].macro_f1):.1f} points "
                   f"of macro-F1 with one more typo per name (an unknown word carries no signal), the chosen model "
                   f"{100 * (c['val'].macro_f1 - c['typo'].macro_f1):.1f} (char n-grams still match most of a "
                   f"misspelt word).")
    nov_md = ["| test subset | n | accuracy |", "| --- | ---: | ---: |"]
    for label, (n, acc) in novelty.items():
        nov_md.append(f"| {label} | {n} | {acc:.4f} |")
    worst_md = "\n".join(f"- {k}: {v}" for k, v in worst) or "- none"
    ex_md = "\n".join(f"- `{t}`: {c} predicted {p} ({cf:.2f})" for t, c, p, cf in examples) or "- none"
    return f"""# Model card: {TEXT_MODEL_NAME} {MODEL_VERSION}

File: `model/product_category.onnx` ({size / 1e6:.2f} MB). The default model of the worker.

## Contract

- Input `{TEXT_INPUT}`: tensor(string) `[N, 1]`, one product per row. The text is the trimmed,
  non-empty `name`, `brand` and `description`, in that order, joined by one space
  (`compose_text` in `ml/contract.py`; the worker must compose it the same way). Nothing else
  is normalised outside the graph: lowercasing and tokenisation are ONNX nodes.
- Output `{OUTPUT}`: tensor(float) `[N, {len(LABELS)}]`, rows sum to 1, columns in the order of
  the `labels` metadata: {", ".join(f"`{c}`" for c in LABELS)}.
- `metadata_props`: `labels`, `label_names`, `model_name={TEXT_MODEL_NAME}`,
  `model_version={MODEL_VERSION}`, `review_threshold={threshold:.2f}`, plus `training_variant`,
  `training_seed`, `input_text` (informative).
- Opset: ai.onnx {TARGET_OPSET['']}, ai.onnx.ml {TARGET_OPSET['ai.onnx.ml']}, com.microsoft `Tokenizer`
  (all in the standard ONNX Runtime CPU build). The string nodes use locale `C.UTF-8`, so no
  other locale must be installed.

## Data

Synthetic Portuguese ERP catalog from `ml/catalog.py` (seed {seed}): {n_types} product types
(real-world product families, brands, vehicle models, specs and units), with ERP-style noise:
upper/lower case, abbreviations (DIANT, TRAS, C/, P/, LD/LE...), missing accents, units written
in many ways (50KG, 2,5 mm, 18L, 1200VA), part numbers, EAN-like and stray codes, typos,
shuffled word order, truncated names. Many families exist on purpose in more than one category:
cables (cabo de vela / cabo HDMI / cabo flexível), batteries (60Ah automotiva / nobreak 12V 7Ah /
parafusadeira 18V), filters, lamps, paints and varnishes, tools, switches, sensors, pumps,
hoses, screws, locks, power supplies, relays.

| split | products | per category | distinct brands |
| --- | ---: | ---: | ---: |
| train | {len(cat['train'])} | {len(cat['train']) // 3} | {brands['train']} |
| val | {len(cat['val'])} | {len(cat['val']) // 3} | {brands['val']} |
| test (held out) | {len(cat['test'])} | {len(cat['test']) // 3} | {brands['test']} |

Honest split: brands and vehicle models are assigned to exactly one split by a stable hash of
their name (~60/20/20), so validation and test products only carry brands and vehicles that
training never saw; about 16% of the product-name variants (synonyms such as "cilindro mestre"
vs "cilindro de roda") are reserved for val or test; and {len(held_types)} product types never
appear in training at all ({", ".join(f"`{k}`" for k in held_types)}). Exact duplicate texts
are removed within and across splits. The training split is the only data the shipped model
has seen; validation chose the variant and the review threshold; test was used only to report.

## Training

`ml/train.py` fits each variant on the training split and scores it on validation, on a
typo-stressed copy of validation (one more typo, of the generator's kinds, in each product name:
{extra['typo_changed']} of {extra['typo_n']} names changed; validation itself has typos in ~12% of names) and, exported to
ONNX, on speed: ONNX Runtime rows/s over the first {SPEED_ROWS} validation texts in batches of {SPEED_BATCH}, one
intra-op thread, median of {SPEED_PASSES} passes (measured at training time on a shared 2-core machine:
expect +-20% between runs).

Selection rule: a variant is a contender when its validation macro-F1 is within
{SELECTION_TOLERANCE} of the best variant's **and** its typo-stressed validation macro-F1 is within
{SELECTION_TOLERANCE} of the best there; **the fastest contender is chosen**. The typo test keeps the speed
preference from choosing a model that only looks as good because validation has few typos{typo_md}
(train.py warns when the runner-up is within {SPEED_CLOSE}x of the winner's speed, i.e. when
machine load could swap them.){note_md}

TF-IDF: word 1-2-grams (`min_df=2`) and char n-grams (`min_df=5`), each branch L2-normalised,
plain term frequency (no `sublinear_tf`), analyzers `word` and `char`.

{chr(10).join(variants_md)}

Chosen: **`{chosen}`**: {VARIANT_NOTES[chosen]}.

## Held-out test metrics (through ONNX Runtime, the shipped file)

{md_metrics(test)}

![confusion matrix](product_category_confusion.png)

{chr(10).join(nov_md)}

ONNX Runtime vs scikit-learn on the test split: max |probability difference|
{parity['max_abs_diff']:.2e}, argmax agreement {parity['argmax_agreement']:.4f}.

Hand-written real product names (`ml/tests/real_products.tsv`, not produced by the generator):
{real_ok}/{real_n} correct.

## Review threshold

`review_threshold = {threshold:.2f}`. Rule: the smallest confidence t on the grid 0.50, 0.51, ...,
0.95 such that validation predictions with confidence >= t are at least
{REVIEW_TARGET_ACCURACY:.1%} correct. The smallest such t keeps the most products out of review;
the target is half a point above the 99% we aim for on new data because validation is one draw
of unseen vocabulary and another draw (the test split) can be harder, as it is here. (With a
99% target, a validation split that is already 99% correct overall would give t = 0.50 and
review would catch almost nothing.) The worker sets `needs_review` when the top probability is
below it; the `REVIEW_THRESHOLD` setting overrides it.

Validation (where it was chosen):

{md_coverage(val_cov)}

Held-out test (the last row is the chosen threshold):

{md_coverage(test_cov)}

On the test split, {thr['coverage_above']:.1%} of products are confident enough to skip review, and
they are {thr['accuracy_above']:.2%} correct; the {thr['n_below']} products sent to review are only
{thr['accuracy_below']:.1%} correct.

## What still confuses it

Most frequent test errors (product type, true -> predicted):

{worst_md}

Confident mistakes (confidence >= 0.80), examples:

{ex_md}

Typical causes: short names whose only product word the model has never seen (a held-out
synonym or product type, next to an unknown brand and a code), families that truly exist in two
categories when the context word is missing (a "motor", "bomba", "lâmpada" or "cabo" without a
vehicle, a "cv" or an "HDMI"), words shared across categories (e.g. "térmico": pasta térmica,
impressora térmica, soprador térmico), and typos in the only informative word. The data are
synthetic: real ERP data will differ; retrain on labelled real products when they exist.

## Runtime notes

- The graph (`ml/text_graph.py`, {extra['n_nodes']} nodes) is lookups and sums: it tokenises
  (com.microsoft `Tokenizer`), maps tokens and n-grams to vocabulary columns with `LabelEncoder`s,
  gathers each n-gram's idf-weighted classifier weights and adds them up per text
  (`ScatterND`), divides by the exact TF-IDF L2 norm (counts of repeated n-grams from a
  `TopK` sort) and applies the sigmoid calibration. Its cost grows with text length, not with the
  vocabulary size. skl2onnx's export (this file until 2026-11-25) built a dense TF-IDF row of
  38,401 floats per text (`TfIdfVectorizer`) and ran ~5k rows/s at batch 64.
- Throughput of this file at training time (ONNX Runtime {ort.__version__} from Python, one intra-op
  thread): batch 1: {speeds[1]:,.0f} rows/s, batch 64: {speeds[64]:,.0f} rows/s, batch 256: {speeds[256]:,.0f} rows/s.
  `{BENCH_COMMAND}` measures batches 1, 8, 64, 256 against scikit-learn's `predict_proba`.
- A batch must have at least one row: ONNX Runtime rejects `[0, 1]` string inputs.
- {blank_md} The worker dead-letters empty texts before they reach the model anyway.
- Whitespace: like scikit-learn's char analyzer, the graph turns runs of 2+ whitespace
  characters (Python's `\\s`) into one space before taking char n-grams (max |difference| to
  scikit-learn on texts with double spaces, tabs and newlines: {extra['ws_diff']:.1e}).
- Tokenisation caveats shared with skl2onnx: lowercasing is ONNX Runtime's (C.UTF-8), not
  Python's `str.lower` (they differ on a few exotic characters), and word tokens are RE2's
  `[\\p{{L}}\\p{{N}}_]{{2,}}` for Python's `\\w\\w+`.

## Reproduce

```
{RETRAIN_COMMAND}
{TEST_COMMAND}
{BENCH_COMMAND}
```

Same seed => same catalog, same model, same metrics, byte-identical ONNX file (scikit-learn
{_version('sklearn')}, skl2onnx {_version('skl2onnx')}, onnx {onnx.__version__}, onnxruntime {ort.__version__},
numpy {np.__version__}; versions pinned in `ml/requirements.txt`). Only the rows/s figures in this
card are measurements that vary between runs.
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
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="comma-separated text variants to compare (default: all)")
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
