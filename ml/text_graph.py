"""Export a fitted TF-IDF text pipeline to ONNX as lookups and sums: no dense TF-IDF row.

skl2onnx turns `TfidfVectorizer -> linear model` into ai.onnx.ml `TfIdfVectorizer`, whose
output is a dense `[N, V]` tensor (V = vocabulary size, ~38k here): filling it and every
later op over it (idf Mul, L2 norm, Concat, LinearClassifier) cost O(N * V), ~100x more than
the arithmetic the model needs. A linear model over TF-IDF only needs, per text, the sum of
the weights of the n-grams it contains, divided by the TF-IDF norm. This module builds:

    text [N,1] -> Reshape [N] -> StringNormalizer(LOWER, locale C.UTF-8)
      per FeatureUnion branch (analyzer "word" or "char"):
        com.microsoft Tokenizer: words `[\\p{L}\\p{N}_]{2,}` (scikit-learn's token pattern) or
          single characters, padded per batch to [N, T]
        -> LabelEncoder token -> unit id (1..U; 0 = unit of no vocabulary n-gram, or padding;
           char: the 29 characters of Python's `\\s` are always units, ids 1..29)
        -> char only: runs of 2+ whitespace -> one " " (scikit-learn's `_white_spaces`)
        -> n-gram codes: code_n[i] = code_{n-1}[i] * K + id[i+n-1] (int64 Slice/Mul/Add, plus
           n * K^max_n so that lengths never collide; K = U + 1)
        -> Compress: keep n-grams whose last unit is known (drops the padding) -> 1-D, Q items
        -> LabelEncoder code -> vocabulary column j; Compress: keep j in the vocabulary
        -> Gather(W_b)[j], W_b[j] = idf_j * classifier weights of column j  -> [Q, M]
        -> ScatterND(reduction=add) by row -> unnormalised scores [N, M]
        -> divided by the row's TF-IDF norm:
           l1: sum of idf_j over the row's n-grams (one more column of W_b);
           l2: sqrt(sum_j count_j^2 idf_j^2), exact: count_j from a sort (TopK) of the keys
               row * V + j, run lengths by ScatterElements(add) (see `_l2_norm`).
      -> sum of branches + intercepts -> the classifier's tail on [N, M] (M <= 9):
         Softmax (LogisticRegression, ComplementNB), or sigmoid calibration, normalisation
         and mean over calibrated folds (CalibratedClassifierCV(method="sigmoid")).

Every op is O(N * text length) and independent of V. The output equals scikit-learn's
`predict_proba` up to float32 rounding (checked after export and in ml/tests), whitespace
runs included. Remaining tokenisation caveats are the ones skl2onnx's graph has too:
lowercasing is ONNX Runtime's (C.UTF-8), not Python's str.lower (they differ on a few
exotic characters), and the word regex is RE2's `[\\p{L}\\p{N}_]{2,}` for Python's `\\w\\w+`.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

WORD_TOKENEXP = r"[\p{L}\p{N}_]{2,}"
CHAR_TOKENEXP = "."
# Padding values of the Tokenizer: they can never be a unit ("#" is no 2+-char word, "##"
# is no single char), so they map to unit 0.
WORD_PAD, CHAR_PAD = "#", "##"
EPS = 1e-30
OPSET = {"": 17, "ai.onnx.ml": 3, "com.microsoft": 1}
IR_VERSION = 8
# Python's `\s` on str (what scikit-learn's `re.compile(r"\s\s+")` matches).
PY_WHITESPACE = [chr(c) for c in (0x9, 0xA, 0xB, 0xC, 0xD, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
                                  *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)]


class _Builder:
    """Collects nodes and initializers; every name is unique."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.value_info: list[onnx.ValueInfoProto] = []
        self._names: set[str] = set()
        self._consts: dict[tuple, str] = {}

    def name(self, base: str) -> str:
        n, k = base, 1
        while n in self._names:
            n, k = f"{base}_{k}", k + 1
        self._names.add(n)
        return n

    def const(self, base: str, value, dtype=None) -> str:
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes()) if arr.size <= 4 else None
        if key is not None and key in self._consts:  # share small constants
            return self._consts[key]
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(arr, name))
        if key is not None:
            self._consts[key] = name
        return name

    def i64(self, *values: int) -> str:
        """A 1-D int64 constant (Slice starts/ends/axes, shapes)."""
        return self.const("i64_" + "_".join(str(v).replace("-", "m") for v in values), np.array(values, np.int64))

    def scalar(self, value, dtype) -> str:
        return self.const(f"{np.dtype(dtype).name}_{value}".replace("-", "m").replace(".", "p"),
                          np.array(value, dtype=dtype))

    def op(self, op_type: str, inputs: list[str], base: str, n_out: int = 1, domain: str = "",
           output: str | None = None, **attrs):
        outs = [output or self.name(base)] if n_out == 1 else [self.name(f"{base}_{k}") for k in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.name(f"{base}_{op_type}"),
                                           domain=domain, **attrs))
        return outs[0] if n_out == 1 else outs

    def slice(self, x: str, start: int, end: int, axis: int, base: str) -> str:
        return self.op("Slice", [x, self.i64(start), self.i64(end), self.i64(axis)], base)


BIG = 2 ** 62  # "to the end" for Slice


# --------------------------------------------------------------------------
# scikit-learn side: what the graph has to reproduce
# --------------------------------------------------------------------------

def _accent_table() -> dict[int, str]:
    """Latin letters with diacritics (U+00C0..U+024F) whose NFKD form is one base letter plus
    combining marks -> that base letter: a 1:1 character map (ligatures and the like, which
    decompose into several letters, are left alone, so the graph can do it per character)."""
    import unicodedata
    table = {}
    for cp in range(0xC0, 0x250):
        ch = chr(cp)
        nfkd = unicodedata.normalize("NFKD", ch)
        base = "".join(c for c in nfkd if not unicodedata.combining(c))
        if len(nfkd) > 1 and len(base) == 1 and base != ch:
            table[cp] = base
    return table


ACCENTS = _accent_table()


def fold_accents(text: str) -> str:
    """Lowercase, then accented Latin letters -> base letters ("Pelúcia" -> "pelucia"). The
    `preprocessor` of a char TfidfVectorizer that the lookup graph reproduces: the graph maps
    each accented character to its base letter's unit (a per-character lookup)."""
    return text.lower().translate(ACCENTS)


def _check_vectorizer(vec) -> None:
    """Only the settings the lookup graph reproduces."""
    problems = []
    if vec.analyzer not in ("word", "char"):
        problems.append(f"analyzer={vec.analyzer!r}")
    folds = vec.preprocessor is fold_accents
    if folds and vec.analyzer != "char":
        problems.append("fold_accents outside a char analyzer")
    if (not vec.lowercase and not folds) or (vec.preprocessor is not None and not folds) or vec.tokenizer is not None:
        problems.append("custom preprocessing")
    if vec.strip_accents is not None or vec.stop_words is not None:
        problems.append("strip_accents/stop_words")
    if vec.analyzer == "word" and vec.token_pattern != r"(?u)\b\w\w+\b":
        problems.append("token_pattern")
    if vec.binary or vec.sublinear_tf:
        problems.append("binary/sublinear_tf")
    if vec.norm not in ("l1", "l2", None):
        problems.append(f"norm={vec.norm!r}")
    if problems:
        raise ValueError("lookup export does not support " + ", ".join(problems))


def _linear_outputs(clf) -> tuple[np.ndarray, np.ndarray, dict]:
    """The classifier as M linear outputs of the feature row plus the tail that maps them to
    probabilities: W [M, n_features], b [M], tail."""
    if isinstance(clf, LogisticRegression):
        if clf.coef_.shape[0] == 1:  # binary: p1 = sigmoid(z) = softmax([0, z])[1]
            return _binary(clf.coef_[0], clf.intercept_[0])
        return clf.coef_.astype(np.float64), clf.intercept_.astype(np.float64), {"kind": "softmax"}
    if isinstance(clf, ComplementNB):
        if len(clf.classes_) < 3:
            raise ValueError("binary ComplementNB is not supported")
        return clf.feature_log_prob_.astype(np.float64), np.zeros(len(clf.classes_)), {"kind": "softmax"}
    if isinstance(clf, CalibratedClassifierCV) and clf.method == "sigmoid":
        n_classes = len(clf.classes_)
        if n_classes == 2:
            return _binary_calibrated(clf)
        ws, bs = [], []
        for cc in clf.calibrated_classifiers_:
            est = _unfrozen(cc.estimator)
            if not isinstance(est, (LinearSVC, LogisticRegression)) or est.coef_.shape[0] != n_classes:
                raise ValueError(f"unsupported calibrated estimator {type(est).__name__}")
            if list(est.classes_) != list(clf.classes_) or len(cc.calibrators) != n_classes:
                raise ValueError("calibrated estimator sees other classes")
            # calibrator of class c: expit(-(a_c * f_c + b_c)) = Sigmoid(-a_c * f_c - b_c);
            # -a_c is folded into the weights and the intercept.
            a = np.array([cal.a_ for cal in cc.calibrators], dtype=np.float64)
            b = np.array([cal.b_ for cal in cc.calibrators], dtype=np.float64)
            ws.append(-a[:, None] * est.coef_)
            bs.append(-a * est.intercept_ - b)
        return np.vstack(ws), np.concatenate(bs), {"kind": "sigmoid", "folds": len(ws), "classes": n_classes}
    raise ValueError(f"lookup export does not support classifier {type(clf).__name__}")


def _unfrozen(est):
    """The estimator inside a `FrozenEstimator` (CalibratedClassifierCV fitted on a held-out
    split on top of an already fitted model), or `est` itself."""
    return est.estimator if isinstance(est, FrozenEstimator) else est


def _binary(w: np.ndarray, b: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """A binary model's one score z as two softmax outputs [0, z]: softmax gives
    [1 - sigmoid(z), sigmoid(z)], scikit-learn's binary predict_proba."""
    weights = np.vstack([np.zeros_like(w, dtype=np.float64), w.astype(np.float64)])
    return weights, np.array([0.0, float(b)]), {"kind": "softmax"}


def _binary_calibrated(clf) -> tuple[np.ndarray, np.ndarray, dict]:
    """Binary CalibratedClassifierCV(method="sigmoid", ensemble=False): one calibrator on the
    positive class, p1 = expit(-(a * f + c)), p0 = 1 - p1."""
    if len(clf.calibrated_classifiers_) != 1:
        raise ValueError("binary CalibratedClassifierCV is supported with ensemble=False only")
    cc = clf.calibrated_classifiers_[0]
    est = _unfrozen(cc.estimator)
    if not isinstance(est, (LinearSVC, LogisticRegression)) or est.coef_.shape[0] != 1 or len(cc.calibrators) != 1:
        raise ValueError(f"unsupported binary calibrated estimator {type(est).__name__}")
    a, c = cc.calibrators[0].a_, cc.calibrators[0].b_
    intercept = float(np.ravel(est.intercept_)[0]) if np.ndim(est.intercept_) else float(est.intercept_)
    return _binary(-a * est.coef_[0], -a * intercept - c)


def _vocabulary_codes(vec) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """Units (chars or words) of the vocabulary, sorted (unit id = index + 1); every n-gram's
    int64 code, sorted, and its column; the radix K = U + 1."""
    vocab = vec.vocabulary_
    split = (lambda gram: gram.split(" ")) if vec.analyzer == "word" else list
    grams = sorted(vocab)
    parts = [split(gram) for gram in grams]
    units = sorted({u for p in parts for u in p})
    if vec.analyzer == "char":
        # whitespace characters first, all of them: ids 1..len(PY_WHITESPACE) (see _collapse_whitespace)
        units = PY_WHITESPACE + [u for u in units if u not in PY_WHITESPACE]
    uid = {u: k + 1 for k, u in enumerate(units)}
    radix = len(units) + 1
    lo, hi = vec.ngram_range
    if (hi + 1) * radix ** hi >= 2 ** 62:
        raise ValueError(f"n-gram codes overflow int64 (K={radix}, n={hi})")
    codes = []
    for gram, p in zip(grams, parts):
        if not lo <= len(p) <= hi:
            raise ValueError(f"vocabulary entry {gram!r} has {len(p)} units, outside {vec.ngram_range}")
        c = 0
        for u in p:
            c = c * radix + uid[u]
        codes.append(c + len(p) * radix ** hi)
    codes = np.array(codes, dtype=np.int64)
    columns = np.array([vocab[gram] for gram in grams], dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    return units, codes[order], columns[order], radix


# --------------------------------------------------------------------------
# ONNX graph
# --------------------------------------------------------------------------

def _collapse_whitespace(g: _Builder, ids: str, tag: str) -> str:
    """scikit-learn's char analyzer replaces every run of 2+ whitespace characters by one
    space before taking n-grams; do the same on the unit ids [N, T] (whitespace characters have
    ids 1..len(PY_WHITESPACE)): the first character of such a run becomes " ", the others are
    dropped, and each row is compacted to the left (ScatterElements(add) to position
    cumsum(keep) - 1; a dropped one adds 0 there)."""
    ws = g.op("Cast", [g.op("And", [g.op("Greater", [ids, g.scalar(0, np.int64)], f"{tag}_ws_lo"),
                                    g.op("Less", [ids, g.scalar(len(PY_WHITESPACE) + 1, np.int64)], f"{tag}_ws_hi")],
                            f"{tag}_is_space_b")], f"{tag}_is_space", to=TensorProto.INT64)
    izero = g.op("Mul", [ws, g.scalar(0, np.int64)], f"{tag}_ws_zeros")
    zcol = g.slice(izero, 0, 1, 1, f"{tag}_ws_zcol")
    prev_ws = g.op("Concat", [zcol, g.slice(ws, 0, -1, 1, f"{tag}_ws_head")], f"{tag}_prev_ws", axis=1)
    next_ws = g.op("Concat", [g.slice(ws, 1, BIG, 1, f"{tag}_ws_tail"), zcol], f"{tag}_next_ws", axis=1)
    drop = g.op("Mul", [ws, prev_ws], f"{tag}_ws_drop")
    keep = g.op("Sub", [g.scalar(1, np.int64), drop], f"{tag}_ws_keep")
    first = g.op("Mul", [g.op("Sub", [ws, drop], f"{tag}_ws_starts"), next_ws], f"{tag}_ws_first")  # run >= 2
    to_space = g.op("Sub", [g.scalar(PY_WHITESPACE.index(" ") + 1, np.int64), ids], f"{tag}_to_space")
    replaced = g.op("Add", [ids, g.op("Mul", [first, to_space], f"{tag}_ws_delta")], f"{tag}_ws_ids")
    pos = g.op("Sub", [g.op("CumSum", [keep, g.scalar(1, np.int64)], f"{tag}_ws_cum"), g.scalar(1, np.int64)],
               f"{tag}_ws_pos")
    kept = g.op("Mul", [replaced, keep], f"{tag}_ws_kept")
    return g.op("ScatterElements", [izero, pos, kept], f"{tag}_collapsed", axis=1, reduction="add")


def _l2_norm(g: _Builder, rows: str, col: str, idf: np.ndarray, n_rows: str, tag: str) -> str:
    """sqrt(sum_j count_j^2 idf_j^2) per row, [N, 1], from the row and column of each of the Q
    n-gram occurrences. Sort the keys row * V + j (TopK of all Q); equal keys form runs; run
    id = cumsum of "differs from the previous key"; run lengths c by ScatterElements(add);
    each position adds c * idf_j^2, so a run adds c^2 * idf_j^2; summed per row."""
    vsize = g.scalar(len(idf), np.int64)
    key = g.op("Add", [g.op("Mul", [rows, vsize], f"{tag}_row_base"), col], f"{tag}_key")
    srt = g.op("TopK", [key, g.op("Shape", [key], f"{tag}_q")], f"{tag}_sort", n_out=2, axis=0, largest=0,
               sorted=1)[0]
    w2 = g.op("Gather", [g.const(f"{tag}_idf2", (idf ** 2).astype(np.float32)),
                         g.op("Mod", [srt, vsize], f"{tag}_sorted_col")], f"{tag}_sorted_idf2", axis=0)
    same = g.op("Equal", [g.slice(srt, 1, BIG, 0, f"{tag}_next"), g.slice(srt, 0, -1, 0, f"{tag}_prev")],
                f"{tag}_same")
    new_run = g.op("Cast", [g.op("Not", [same], f"{tag}_differs")], f"{tag}_new_run", to=TensorProto.INT64)
    izeros = g.op("Mul", [srt, g.scalar(0, np.int64)], f"{tag}_izeros")
    run = g.op("Concat", [g.slice(izeros, 0, 1, 0, f"{tag}_run0"),
                          g.op("CumSum", [new_run, g.scalar(0, np.int64)], f"{tag}_run_rest")], f"{tag}_run", axis=0)
    ones = g.op("Add", [izeros, g.scalar(1, np.int64)], f"{tag}_ones")
    lengths = g.op("ScatterElements", [izeros, run, ones], f"{tag}_run_len", axis=0, reduction="add")
    count = g.op("Cast", [g.op("GatherElements", [lengths, run], f"{tag}_count_i", axis=0)], f"{tag}_count",
                 to=TensorProto.FLOAT)
    fzeros = g.op("ConstantOfShape", [n_rows], f"{tag}_sq0",
                  value=numpy_helper.from_array(np.array([0.0], dtype=np.float32)))
    sq = g.op("ScatterElements", [fzeros, g.op("Div", [srt, vsize], f"{tag}_sorted_row"),
                                  g.op("Mul", [count, w2], f"{tag}_sq_terms")], f"{tag}_sumsq", axis=0,
              reduction="add")
    return g.op("Unsqueeze", [g.op("Sqrt", [sq], f"{tag}_l2_1d"), g.i64(1)], f"{tag}_l2")


def _branch(g: _Builder, normalized: str, n_rows: str, row_index: str, vec, weights: np.ndarray, tag: str) -> str:
    """One FeatureUnion branch: its normalised TF-IDF row times `weights` [M, V_b], i.e. its
    contribution [N, M] to the linear outputs."""
    _check_vectorizer(vec)
    lo, hi = vec.ngram_range
    units, codes, columns, radix = _vocabulary_codes(vec)
    n_vocab = len(vec.vocabulary_)
    idf = vec.idf_.astype(np.float64) if vec.use_idf else np.ones(n_vocab)
    word = vec.analyzer == "word"

    tokens = g.op("Tokenizer", [normalized], f"{tag}_tokens", domain="com.microsoft", mark=0, mincharnum=1,
                  pad_value=WORD_PAD if word else CHAR_PAD, tokenexp=WORD_TOKENEXP if word else CHAR_TOKENEXP)
    # com.microsoft ops have no schema in onnx: declare the output type, or onnx's shape
    # inference (check_model(full_check=True)) crashes on the LabelEncoder that reads it.
    g.value_info.append(helper.make_tensor_value_info(tokens, TensorProto.STRING, [None, None]))
    keys, values = list(units), list(range(1, len(units) + 1))
    if vec.preprocessor is fold_accents:
        # accented letters share their base letter's unit: ONNX Runtime lowercased them, the
        # map folds both cases (as fold_accents, which lowercases with Python first)
        uid = {u: k + 1 for k, u in enumerate(units)}
        for cp, base in sorted(ACCENTS.items()):
            if base in uid and chr(cp) not in uid:
                keys.append(chr(cp))
                values.append(uid[base])
    ids = g.op("LabelEncoder", [tokens], f"{tag}_unit_ids", domain="ai.onnx.ml",
               keys_strings=keys, values_int64s=values, default_int64=0)
    if not word:
        ids = _collapse_whitespace(g, ids, tag)

    rows = g.op("Expand", [row_index, g.op("Shape", [ids], f"{tag}_ids_shape")], f"{tag}_rows")
    grams, lasts, gram_rows = [], [], []
    code = ids
    for n in range(1, hi + 1):
        last, row = ids, rows
        if n > 1:
            last = g.slice(ids, n - 1, BIG, 1, f"{tag}_last{n}")
            row = g.slice(rows, n - 1, BIG, 1, f"{tag}_rows{n}")
            head = g.slice(code, 0, -1, 1, f"{tag}_head{n}")
            code = g.op("Add", [g.op("Mul", [head, g.scalar(radix, np.int64)], f"{tag}_shift{n}"), last],
                        f"{tag}_code{n}")
        if n >= lo:
            grams.append(g.op("Add", [code, g.scalar(n * radix ** hi, np.int64)], f"{tag}_gram{n}"))
            lasts.append(last)
            gram_rows.append(row)

    def cat(parts: list[str], base: str) -> str:
        return parts[0] if len(parts) == 1 else g.op("Concat", parts, base, axis=1)

    # n-grams that end on a known unit (drops the padding: most positions of a batch of
    # texts of unequal length), flattened to 1-D; then those in the vocabulary.
    keep = g.op("Greater", [cat(lasts, f"{tag}_lasts"), g.scalar(0, np.int64)], f"{tag}_keep")
    qcodes = g.op("Compress", [cat(grams, f"{tag}_grams"), keep], f"{tag}_qcodes")
    qrows = g.op("Compress", [cat(gram_rows, f"{tag}_gram_rows"), keep], f"{tag}_qrows")
    col = g.op("LabelEncoder", [qcodes], f"{tag}_column", domain="ai.onnx.ml", keys_int64s=codes.tolist(),
               values_int64s=columns.tolist(), default_int64=n_vocab)
    known = g.op("Less", [col, g.scalar(n_vocab, np.int64)], f"{tag}_known")
    col = g.op("Compress", [col, known], f"{tag}_known_col")
    qrows = g.op("Compress", [qrows, known], f"{tag}_known_rows")

    m = weights.shape[0]
    width = m + (vec.norm == "l1")
    table = np.zeros((n_vocab, width), dtype=np.float64)
    table[:, :m] = (weights * idf[None, :]).T
    if vec.norm == "l1":
        table[:, m] = idf
    picked = g.op("Gather", [g.const(f"{tag}_weights", table.astype(np.float32)), col], f"{tag}_picked", axis=0)
    zeros = g.op("ConstantOfShape", [g.op("Concat", [n_rows, g.i64(width)], f"{tag}_sums_shape", axis=0)],
                 f"{tag}_sums0", value=numpy_helper.from_array(np.array([0.0], dtype=np.float32)))
    sums = g.op("ScatterND", [zeros, g.op("Unsqueeze", [qrows, g.i64(1)], f"{tag}_qrows_2d"), picked],
                f"{tag}_sums", reduction="add")  # [N, width]
    if vec.norm is None:
        return sums
    if vec.norm == "l1":
        scores = g.slice(sums, 0, m, 1, f"{tag}_scores")
        norm = g.slice(sums, m, BIG, 1, f"{tag}_l1")
    else:
        scores = sums
        norm = _l2_norm(g, qrows, col, idf, n_rows, tag)
    # a row without any vocabulary n-gram has norm 0 and stays all-zero, as in scikit-learn
    return g.op("Div", [scores, g.op("Max", [norm, g.scalar(EPS, np.float32)], f"{tag}_norm_eps")],
                f"{tag}_contribution")


def export_lookup_model(pipe: Pipeline, input_name: str, output_name: str, graph_name: str) -> onnx.ModelProto:
    """ONNX model of a fitted Pipeline([("features", FeatureUnion([(name, TfidfVectorizer),
    ...])), ("clf", classifier)]): input `input_name` string [N, 1], single output
    `output_name` float [N, C] = predict_proba."""
    union = pipe.named_steps["features"]
    if not isinstance(union, FeatureUnion) or union.transformer_weights:
        raise ValueError("expected a FeatureUnion of TfidfVectorizers without transformer_weights")
    vecs = [v for _, v in union.transformer_list]
    widths = [len(v.vocabulary_) for v in vecs]
    w, b, tail = _linear_outputs(pipe.named_steps["clf"])
    if w.shape[1] != sum(widths):
        raise ValueError("classifier width != TF-IDF width")

    g = _Builder()
    flat = g.op("Reshape", [input_name, g.i64(-1)], "texts")
    normalized = g.op("StringNormalizer", [flat], "normalized", case_change_action="LOWER",
                      is_case_sensitive=0, locale="C.UTF-8")
    n_rows = g.op("Shape", [flat], "n_rows")  # [N], 1-D
    row_range = g.op("Range", [g.scalar(0, np.int64), g.op("Squeeze", [n_rows, g.i64(0)], "n"),
                               g.scalar(1, np.int64)], "row_range")
    row_index = g.op("Unsqueeze", [row_range, g.i64(1)], "row_index")  # [N, 1]
    parts, start = [], 0
    for k, (vec, width) in enumerate(zip(vecs, widths)):
        parts.append(_branch(g, normalized, n_rows, row_index, vec, w[:, start:start + width], f"b{k}_{vec.analyzer}"))
        start += width
    total = parts[0]
    for k, part in enumerate(parts[1:], 1):
        total = g.op("Add", [total, part], f"branch_sum{k}")
    logits = g.op("Add", [total, g.const("intercept", b.astype(np.float32))], "linear")

    if tail["kind"] == "softmax":
        g.op("Softmax", [logits], "softmax", output=output_name, axis=1)
    else:
        folds, classes = tail["folds"], tail["classes"]
        sig = g.op("Sigmoid", [logits], "calibrated")
        per_fold = g.op("Reshape", [sig, g.i64(-1, folds, classes)], "per_fold")  # [N, folds, C]
        den = g.op("ReduceSum", [per_fold, g.i64(2)], "fold_sum", keepdims=1)
        probs = g.op("Div", [per_fold, den], "fold_proba")
        g.op("ReduceMean", [probs], "mean", output=output_name, axes=[1], keepdims=0)

    used = {i for node in g.nodes for i in node.input}
    graph = helper.make_graph(
        g.nodes, graph_name,
        [helper.make_tensor_value_info(input_name, TensorProto.STRING, [None, 1])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [None, len(pipe.classes_)])],
        [t for t in g.inits if t.name in used], value_info=g.value_info)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(OPSET.items())],
                              producer_name="product-categorizer ml/text_graph.py")
    model.ir_version = IR_VERSION
    return model
