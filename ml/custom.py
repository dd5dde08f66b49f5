"""`train.py --data FILE`: a text model on your own labelled products, under the worker's ONNX contract.

    .venv/bin/python ml/train.py --data products.csv --out model/custom [--name N] [--version V]

Reads and splits the file (ml/dataset.py) and fits the shipped text model's recipe (v2, issue 23
item 6): word 1-2 + char 3-4 TF-IDF and one LinearSVC without intercept, plus noise rows (made-up
words given with every label, so unknown words lower the confidence); the per-class sigmoid
calibration is fitted on out-of-fold scores (CALIBRATION_FOLDS folds over near-duplicate groups
of train + validation: every score comes from an SVM that never saw that name's group), and the
review threshold is chosen on the same out-of-fold probabilities and on a typo-stressed copy
(train.choose_review_threshold: 95% lower bound of the unflagged accuracy >= 99.5%). The final SVM
is fitted on train + validation with those calibrators. Exports `<out>/product_category.onnx` with
the categories of the data, evaluates the exported file through ONNX Runtime on the held-out test
split (accuracy, flagged share, unflagged accuracy) and writes the model card
(`product_category.md`) and the confusion matrix (`product_category_confusion.png`).
Older recipes stay available with --variant (e.g. `word12+char34_svm1`, v1's).
"""
from __future__ import annotations

import datetime as dt
import json
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

import dataset
import train
from contract import OUTPUT, TEXT_INPUT

DEFAULT_VARIANT = "v2_word12+char34"
CALIBRATION_FOLDS = 3
NOISE_SHARE = 0.1  # noise rows (every label once per noise text), as a share of the training rows
MODEL_FILE = "product_category.onnx"


def default_name(path: Path) -> str:
    stem = "".join(c if c.isalnum() else "-" for c in path.stem.lower()).strip("-") or "data"
    return f"product-category-{stem}"


def default_version(data: dataset.Dataset) -> str:
    return f"{dt.date.today():%Y.%m.%d}-{data.digest[:8]}"


def output_paths(out: Path) -> tuple[Path, Path, Path]:
    """`out` is the .onnx file, or a directory that receives product_category.onnx."""
    model = out if out.suffix == ".onnx" else out / MODEL_FILE
    return model, model.with_suffix(".md"), model.with_name(model.stem + "_confusion.png")


def evaluate(y: np.ndarray, proba: np.ndarray, labels: list[str]) -> dict:
    pred = proba.argmax(1)
    idx = range(len(labels))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=idx, zero_division=0)
    # macro-F1 over the categories that occur (true or predicted): one with no example in the
    # split would otherwise count as F1 = 0
    present = sorted(set(y.tolist()) | set(pred.tolist()))
    return {"n": int(len(y)), "accuracy": float(accuracy_score(y, pred)),
            "macro_f1": float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
            "absent": [labels[i] for i in idx if i not in set(y.tolist())],
            "per_class": [(labels[i], float(p[i]), float(r[i]), float(f[i]), int(s[i])) for i in idx],
            "confusion": confusion_matrix(y, pred, labels=idx)}


def plot_confusion(cm: np.ndarray, labels: list[str], title: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(labels)
    size = min(4.0 + 0.35 * n, 40.0)
    fig, ax = plt.subplots(figsize=(size + 1.2, size), dpi=100)
    # rows normalised: each true category's recall pattern, readable whatever the class sizes
    shares = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    font = 8 if n <= 30 else 5
    ax.set_xticks(range(n), labels=labels, rotation=45 if n > 6 else 20, ha="right", fontsize=font)
    ax.set_yticks(range(n), labels=labels, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if shares[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def fit(variant: str, texts: list[str], y: np.ndarray):
    pipe = train.build_variant(variant)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(texts, y)
    return pipe


def noise_rows(n_train: int, n_labels: int, seed: int) -> list[str]:
    """Made-up words and codes (ml/styles.py), each to be given once with every label."""
    import random

    import styles
    rng = random.Random(f"custom-noise/{seed}")
    n = max(10, min(styles.NOISE_ROWS, int(NOISE_SHARE * n_train / n_labels)))
    out, seen = [], set()
    while len(out) < n:
        t = styles.noise_text(rng)
        if t.lower() not in seen:
            seen.add(t.lower())
            out.append(t)
    return out


def _fold_of(name: str, seed: int) -> int:
    import hashlib
    key = dataset.near_duplicate_key(name)
    return int.from_bytes(hashlib.blake2b(f"fold/{seed}/{key}".encode(), digest_size=8).digest(), "big") % CALIBRATION_FOLDS


def fit_calibrated(variant: str, texts: list[str], y: np.ndarray, names: list[str], n_labels: int, seed: int,
                   log=print) -> tuple:
    """v2 recipe on your data: returns (pipeline, out-of-fold probabilities, typo-stressed
    out-of-fold probabilities, fit seconds). Folds group rows by near-duplicate key."""
    import random

    import catalog
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    t0 = time.time()
    noise = noise_rows(len(texts), n_labels, seed)
    noise_x = [t for t in noise for _ in range(n_labels)]
    noise_y = np.array([k for _ in noise for k in range(n_labels)], dtype=np.int64)
    folds = np.array([_fold_of(n, seed) for n in names])
    if len(set(folds.tolist())) < 2:  # every name in one group fold (tiny files): fall back to row folds
        folds = np.arange(len(names)) % CALIBRATION_FOLDS
    rng = random.Random(f"custom-typo/{seed}")
    typo = [catalog.add_typo(rng, t) for t in texts]
    width = 1 if n_labels == 2 else n_labels  # a binary LinearSVC has one decision value
    scores = np.zeros((len(texts), width))
    scores_typo = np.zeros((len(texts), width))
    for k in range(CALIBRATION_FOLDS):
        out = folds == k
        if not out.any() or out.all():
            continue
        idx_in = np.nonzero(~out)[0]
        log(f"[train] calibration fold {k + 1}/{CALIBRATION_FOLDS}: fitting on {len(idx_in):,} rows, scoring {int(out.sum()):,} "
            f"held-out rows ...")
        pipe = fit(variant, [texts[i] for i in idx_in] + noise_x, np.concatenate([y[idx_in], noise_y]))
        idx_out = np.nonzero(out)[0]
        scores[idx_out] = _scores(pipe, [texts[i] for i in idx_out], n_labels)
        scores_typo[idx_out] = _scores(pipe, [typo[i] for i in idx_out], n_labels)
    log(f"[train] final fit on all {len(texts):,} train + validation rows (+ {len(noise_x):,} noise rows) ...")
    final = fit(variant, texts + noise_x, np.concatenate([y, noise_y]))
    svm = final.named_steps["clf"]
    # sigmoid calibrators fitted on the out-of-fold scores (a stand-in estimator returns them),
    # then put on the final SVM: CalibratedClassifierCV(ensemble=False) with group folds
    cal = CalibratedClassifierCV(FrozenEstimator(_ScoreEstimator().fit(None, svm.classes_)), method="sigmoid")
    cal.fit(scores, y)
    oof, oof_typo = cal.predict_proba(scores), cal.predict_proba(scores_typo)
    cal.calibrated_classifiers_[0].estimator = FrozenEstimator(svm)
    cal.estimator = FrozenEstimator(svm)
    pipe = train.Pipeline([("features", final.named_steps["features"]), ("clf", cal)])
    return pipe, oof, oof_typo, time.time() - t0


def _scores(pipe, texts: list[str], n_labels: int) -> np.ndarray:
    s = pipe.decision_function(texts)
    return s.reshape(-1, 1) if s.ndim == 1 else s


class _ScoreEstimator(ClassifierMixin, BaseEstimator):
    """A 'classifier' whose decision_function is its input: lets CalibratedClassifierCV fit
    sigmoid calibrators on precomputed out-of-fold scores."""

    def fit(self, X, y):
        self.classes_ = np.asarray(y)
        return self

    def decision_function(self, X):
        X = np.asarray(X)
        return X[:, 0] if X.shape[1] == 1 else X

    def predict(self, X):
        X = np.asarray(X)
        return self.classes_[(X[:, 0] > 0).astype(int) if X.shape[1] == 1 else X.argmax(1)]


def run(args) -> Path:
    t0 = time.time()
    caps = {"train": args.max_train_rows, "val": max(args.max_train_rows // 6, 1000),
            "test": max(args.max_train_rows // 6, 1000)}
    print(f"[data] reading {args.data}", flush=True)
    data = dataset.read(args.data, seed=args.seed, caps=caps, min_examples=args.min_examples, progress=sys.stdout)
    labels = data.labels
    names = {c: data.names.get(c, c) for c in labels}
    index = {c: i for i, c in enumerate(labels)}
    splits = data.splits
    print(f"[data] {data.rows:,} rows, {data.duplicates:,} exact duplicates dropped, {data.conflicting:,} rows whose "
          f"text appeared before with another category, {len(labels)} categories ({data.seconds:.1f}s)")
    print("[data] split (near-duplicate names on one side): " + ", ".join(
        f"{s} {v.seen:,}" + (f" (sampled {len(v.texts):,})" if len(v.texts) < v.seen else "") for s, v in splits.items()))
    for s in ("val", "test"):
        if not splits[s].texts:
            raise dataset.DataError(f"{args.data}: no rows fell in the {s} split; the file is too small or its names "
                                    f"too alike to evaluate a model honestly")
    y = {s: np.array([index[c] for c in v.labels], dtype=np.int64) for s, v in splits.items()}

    t = time.time()
    v2 = train.VARIANTS[args.variant][1] in ("svmh", "svmk")
    if v2:
        texts = splits["train"].texts + splits["val"].texts
        y_fit = np.concatenate([y["train"], y["val"]])
        print(f"[train] {args.variant} (v2 recipe) on {len(texts):,} train + validation rows: {CALIBRATION_FOLDS} "
              f"out-of-fold fits for the calibration, then the final fit (about 1-2 min per 100k rows each on 2 cores)",
              flush=True)
        pipe, oof, oof_typo, fit_s = fit_calibrated(args.variant, texts, y_fit, splits["train"].names + splits["val"].names,
                                                    len(labels), args.seed, log=lambda m: print(m, flush=True))
        threshold = train.choose_review_threshold(y_fit, oof, oof_typo)
        val = evaluate(y_fit, oof, labels)
        val["cov"] = train.coverage_table(y_fit, oof, threshold)
        val["typo_cov"] = train.coverage_table(y_fit, oof_typo, threshold)
        val["kind"] = "out-of-fold (train + validation, each row scored by a fit that never saw its name group)"
    else:
        print(f"[train] fitting {args.variant} on {len(splits['train'].texts):,} rows (about 1-2 min per 100k rows on "
              f"2 cores; no progress is shown while scikit-learn fits)", flush=True)
        pipe = fit(args.variant, splits["train"].texts, y["train"])
        fit_s = time.time() - t
        val_proba = pipe.predict_proba(splits["val"].texts)
        threshold = train.choose_threshold(y["val"], val_proba)
        val = evaluate(y["val"], val_proba, labels)
        val["cov"] = train.coverage_table(y["val"], val_proba, threshold)
        val["typo_cov"] = None
        val["kind"] = "validation"
    print(f"[train] {args.variant}: {fit_s:.1f}s; {val['kind']} accuracy {val['accuracy']:.4f} macro-F1 "
          f"{val['macro_f1']:.4f}; review_threshold {threshold:.2f} (flags {1 - val['cov']['coverage_above']:.1%} there, "
          f"unflagged accuracy {val['cov']['accuracy_above']:.4f})")

    name = args.name or default_name(args.data)
    version = args.version or default_version(data)
    props = {
        "labels": json.dumps(labels, ensure_ascii=False),
        "label_names": json.dumps(names, ensure_ascii=False),
        "model_name": name,
        "model_version": version,
        "review_threshold": f"{threshold:.2f}",
        # the worker's drift baseline (CategorizerFlaggedRateHigh): the share flagged on held-out rows
        "heldout_flagged_ratio": f"{1 - val['cov']['coverage_above']:.4f}",
        "training_variant": args.variant,
        "training_seed": str(args.seed),
        "training_data": f"{args.data.name} blake2b-128:{data.digest}",
        "input_text": "trimmed non-empty name, brand, description joined by one space",
    }
    model = train.export_text_model(pipe, props)
    model_path, card_path, png_path = output_paths(args.out)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    # written beside, then renamed: a worker watching this path never reads half a file
    partial = model_path.with_name(model_path.name + ".partial")
    onnx.save(model, partial)
    sess = train.ort_session(partial)
    test_proba = train.ort_text_proba(sess, splits["test"].texts)
    parity = float(np.abs(test_proba - pipe.predict_proba(splits["test"].texts)).max())
    test = evaluate(y["test"], test_proba, labels)
    cov = train.coverage_table(y["test"], test_proba, threshold)
    print(f"[test] held out, through ONNX Runtime: n={test['n']:,} accuracy {test['accuracy']:.4f} macro-F1 "
          f"{test['macro_f1']:.4f}; at threshold {threshold:.2f}: {1 - cov['coverage_above']:.1%} flagged for review, "
          f"unflagged accuracy {cov['accuracy_above']:.4f} ({cov['n_above']:,} unflagged); ONNX vs scikit-learn max "
          f"|diff| {parity:.1e}")
    if test["absent"]:
        print(f"[test] WARNING: {len(test['absent'])} categories have no test example (listed in the card): "
              f"their names are too few or too alike to spread over the splits")
    plot_confusion(test["confusion"], labels, f"{name} {version}: held-out test (n={test['n']})", png_path)
    card_path.write_text(card(args, data, labels, names, name, version, threshold, val, test, cov, parity, fit_s,
                              model_path, png_path, partial.stat().st_size), encoding="utf-8")
    partial.replace(model_path)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"[done] wrote {model_path} ({model_path.stat().st_size / 1e6:.2f} MB), {card_path.name}, {png_path.name} "
          f"in {time.time() - t0:.1f}s (peak memory {peak_mb:.0f} MB)")
    return model_path


def card(args, data, labels, names, name, version, threshold, val, test, cov, parity, fit_s, model_path, png_path,
         size) -> str:
    splits = data.splits
    rows = ["| category | name | rows | train | val | test |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for c in labels:
        rows.append(f"| {c} | {names[c]} | {data.counts[c]} | " + " | ".join(
            str(data.split_counts.get(s, {}).get(c, 0)) for s in ("train", "val", "test")) + " |")
    per = ["| category | precision | recall | F1 | support |", "| --- | ---: | ---: | ---: | ---: |"]
    for c, p, r, f, s in test["per_class"]:
        per.append(f"| {c} | {p:.4f} | {r:.4f} | {f:.4f} | {s} |")
    sampled = [f"{s}: {len(v.texts):,} of {v.seen:,}" for s, v in splits.items() if len(v.texts) < v.seen]
    sample_md = (f"Large file: each split was sampled uniformly (reservoir sampling, bounded memory): "
                 f"{'; '.join(sampled)}." if sampled else "Every distinct row was used.")
    cm = test["confusion"]
    confusions = sorted(((int(cm[i, j]), labels[i], labels[j]) for i in range(len(labels))
                         for j in range(len(labels)) if i != j and cm[i, j]), reverse=True)[:10]
    conf_md = "\n".join(f"- {t} -> {p}: {n}" for n, t, p in confusions) or "- none"
    absent = test["absent"]
    absent_md = (f"- {len(absent)} categories have no test example (too few distinct names to spread over "
                 f"the splits): {', '.join(absent[:20])}{' ...' if len(absent) > 20 else ''}\n" if absent else "")
    if train.VARIANTS[args.variant][1] in ("svmh", "svmk"):
        training_md = (f"`{args.variant}` (the shipped text model's recipe): word 1-2 + char 3-4 TF-IDF and one "
                       f"`LinearSVC(C=0.5)` without intercept, fitted on train + validation "
                       f"({len(splits['train'].texts) + len(splits['val'].texts):,} rows) plus noise rows (made-up words "
                       f"given once with every category, so that unknown words lower the confidence). Per-category "
                       f"sigmoid calibration fitted on out-of-fold scores: {CALIBRATION_FOLDS} folds over near-duplicate "
                       f"name groups, each row scored by a fit that never saw its group; then put on the final SVM. "
                       f"{fit_s:.1f}s in all. Out-of-fold (n={val['n']:,}): accuracy {val['accuracy']:.4f}, macro-F1 "
                       f"{val['macro_f1']:.4f}.")
        rule_md = (f"the smallest t on 0.50, 0.51, ..., 0.99 such that the out-of-fold predictions with confidence "
                   f">= t are at least {train.REVIEW_TARGET_ACCURACY:.1%} correct with 95% confidence (one-sided Wilson "
                   f"lower bound), both as they are and with one more typo per text (0.99 when none is). Out of fold it "
                   f"flags {1 - val['cov']['coverage_above']:.1%}, unflagged accuracy {val['cov']['accuracy_above']:.4f}; "
                   f"typo-stressed: {1 - val['typo_cov']['coverage_above']:.1%} flagged, unflagged accuracy "
                   f"{val['typo_cov']['accuracy_above']:.4f}.")
    else:
        training_md = (f"`{args.variant}`: {train.VARIANT_NOTES[args.variant]}; fitted in {fit_s:.1f}s on "
                       f"{len(splits['train'].texts):,} rows. Validation (n={val['n']:,}): accuracy {val['accuracy']:.4f}, "
                       f"macro-F1 {val['macro_f1']:.4f}.")
        rule_md = (f"the smallest t in 0.50..0.95 such that validation predictions with confidence >= t are at least "
                   f"{train.REVIEW_TARGET_ACCURACY:.1%} correct (0.95 when none is).")
    flagged_md = (f"the {cov['n_below']:,} flagged ones are {cov['accuracy_below']:.1%} correct" if cov["n_below"]
                  else "none is flagged")
    command = " ".join(["ml/train.py", "--data", str(args.data), "--out", str(args.out)]
                       + (["--name", args.name] if args.name else []) + (["--version", args.version] if args.version else []))
    return f"""# Model card: {name} {version}

File: `{model_path.name}` ({size / 1e6:.2f} MB), trained on `{args.data.name}` by `{command}`.

## Contract

- Input `{TEXT_INPUT}`: tensor(string) `[N, 1]`: trimmed non-empty name, brand, description joined by one space.
- Output `{OUTPUT}`: tensor(float) `[N, {len(labels)}]`, rows sum to 1, columns in `labels` order.
- `metadata_props`: `labels` ({len(labels)} codes from the data, sorted), `label_names` (from the
  `category_name` column, else the code), `model_name={name}`, `model_version={version}`,
  `review_threshold={threshold:.2f}`, `training_variant={args.variant}`, `training_data` (file name and digest).

## Data

`{args.data.name}` ({'tab' if data.delimiter == chr(9) else 'comma'}-separated, blake2b-128 `{data.digest}`):
{data.rows:,} rows read; {data.duplicates:,} exact duplicates (same name, brand, description and category)
dropped; {data.conflicting:,} rows whose text appeared earlier with another category (kept: check them).

Honest split: each row goes to train / validation / test (~{dataset.SPLIT_PERCENT['train']}/{dataset.SPLIT_PERCENT['val']}/{dataset.SPLIT_PERCENT['test']})
by a hash of its name's near-duplicate key (case, accents, punctuation, numbers, units and word order
removed), so names that differ only in those stay on one side. {sample_md}

{chr(10).join(rows)}

## Training

{training_md}

## Held-out test (through ONNX Runtime, the written file)

- examples: {test['n']:,}
- accuracy: **{test['accuracy']:.4f}**
- macro-F1: **{test['macro_f1']:.4f}** (over the categories that occur in the test split)
- ONNX Runtime vs scikit-learn: max |probability difference| {parity:.1e}
{absent_md}
{chr(10).join(per)}

![confusion matrix]({png_path.name})

Most frequent confusions (true -> predicted: count):

{conf_md}

## Review threshold

`review_threshold = {threshold:.2f}`: {rule_md}

**Measured on the held-out test split** (through ONNX Runtime, the written file): {1 - cov['coverage_above']:.1%} of
products are flagged (`needs_review`); the unflagged ones are **{cov['accuracy_above']:.2%} correct**
({cov['n_above']:,} products); {flagged_md}.
`REVIEW_THRESHOLD` overrides it in the worker.

## Roll it out

```
product-categorizer predict --model {model_path} "a product name"      # try it by hand
SHADOW_MODEL_PATH={model_path} product-categorizer                   # compare under traffic
mv {model_path} $MODEL_PATH                                           # the worker reloads it
```
"""
