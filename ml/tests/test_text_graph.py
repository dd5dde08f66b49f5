"""The lookup exporter (ml/text_graph.py) reproduces scikit-learn for every configuration it
accepts, not only the shipped one: small pipelines fitted on part of the training split."""
from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

import text_graph
import train

ODD = ["", "?", "x", "ab", "12345", "ÇÃÕ ção", "日本語 🙂", "a" * 1500, "cimento  cp ii", "  mouse \t\t usb  ",
       "tab\tand\nnewline", "a\u00a0\u00a0b cabo\n\n\nhdmi", "cabo \u2003 hdmi", "PASTILHA  DE   FREIO\tDIANT",
       "lâmpada H4 12V 55W  philips", "parafuso  sextavado 1/4\" x 2\"", "PELÚCIA Pelúcia pelucia", "Ñandú ÀÉÎÕÜ àéîõü",
       "ﬁ ß Œ œ Ǆ ǅ", "cimento ção Ç"]


def _vec(analyzer, lo, hi, norm, min_df=3):
    fold = analyzer == "char+fold"
    return TfidfVectorizer(analyzer="char" if fold else analyzer, ngram_range=(lo, hi), min_df=min_df, norm=norm,
                           preprocessor=text_graph.fold_accents if fold else None, dtype=np.float32)


CONFIGS = {
    "word12_l2+char14_l2_svm3": ([("w", "word", 1, 2, "l2"), ("c", "char", 1, 4, "l2")],
                                 lambda: CalibratedClassifierCV(LinearSVC(C=0.5, random_state=0), cv=3)),
    "word12_l2+char34_l2_svm1": ([("w", "word", 1, 2, "l2"), ("c", "char", 3, 4, "l2")],
                                 lambda: CalibratedClassifierCV(LinearSVC(C=0.5, fit_intercept=False, random_state=0),
                                                                cv=3, ensemble=False)),
    "word13_l1+char25_l1_lr": ([("w", "word", 1, 3, "l1"), ("c", "char", 2, 5, "l1")],
                               lambda: LogisticRegression(C=30, max_iter=2000)),
    "char2_none_cnb": ([("c", "char", 2, 2, None)], lambda: ComplementNB(alpha=0.3)),
    "word1_l2_lr": ([("w", "word", 1, 1, "l2")], lambda: LogisticRegression(C=10, max_iter=2000)),
    # the shipped configuration: accent-folded char n-grams (text_graph.fold_accents)
    "word12_l2+char34fold_l2_svm1": ([("w", "word", 1, 2, "l2"), ("c", "char+fold", 3, 4, "l2")],
                                     lambda: CalibratedClassifierCV(LinearSVC(C=0.5, fit_intercept=False, random_state=0),
                                                                    cv=3, ensemble=False)),
    "char13fold_l2_lr": ([("c", "char+fold", 1, 3, "l2")], lambda: LogisticRegression(C=10, max_iter=2000)),
}


@pytest.fixture(scope="module")
def small(text_data):
    return text_data.texts["train"][:1500], text_data.y["train"][:1500], text_data.texts["val"][:400]


@pytest.mark.parametrize("config", CONFIGS)
def test_lookup_graph_matches_scikit_learn(config, small):
    branches, make_clf = CONFIGS[config]
    pipe = Pipeline([("features", FeatureUnion([(n, _vec(a, lo, hi, norm)) for n, a, lo, hi, norm in branches])),
                     ("clf", make_clf())])
    x, y, val = small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(x, y)
    model = text_graph.export_lookup_model(pipe, "text", "probabilities", "t")
    onnx.checker.check_model(model, full_check=True)
    sess = train.ort_session(model.SerializeToString())
    texts = val + ODD
    onx = train.ort_text_proba(sess, texts, batch=64)
    skl = pipe.predict_proba(texts)
    np.testing.assert_allclose(onx, skl, atol=1e-4)  # float32 sums (the unnormalised CNB logits are large)
    # batch composition does not matter (padding, empty batches of tokens)
    for t in ODD:
        np.testing.assert_allclose(train.ort_text_proba(sess, [t])[0], onx[texts.index(t)], atol=1e-6)
    assert {n.op_type for n in model.graph.node}.isdisjoint({"TfIdfVectorizer", "LinearClassifier", "MatMul"})


def test_unsupported_settings_are_refused(small):
    x, y, _ = small
    pipe = Pipeline([("features", FeatureUnion([("w", TfidfVectorizer(sublinear_tf=True))])),
                     ("clf", LogisticRegression(max_iter=500))]).fit(x, y)
    with pytest.raises(ValueError, match="sublinear_tf"):
        text_graph.export_lookup_model(pipe, "text", "probabilities", "t")
    for vec, match in ((TfidfVectorizer(preprocessor=text_graph.fold_accents), "fold_accents outside a char analyzer"),
                       (TfidfVectorizer(analyzer="char", preprocessor=str.upper), "custom preprocessing")):
        pipe = Pipeline([("features", FeatureUnion([("v", vec)])), ("clf", LogisticRegression(max_iter=500))]).fit(x, y)
        with pytest.raises(ValueError, match=match):
            text_graph.export_lookup_model(pipe, "text", "probabilities", "t")


def test_fold_accents_is_a_per_character_map():
    assert text_graph.fold_accents("PELÚCIA Ação Ñ") == "pelucia acao n"
    assert all(len(b) == 1 for b in text_graph.ACCENTS.values())
    assert text_graph.fold_accents("ﬁ ß") == "ﬁ ß"  # several-letter decompositions are left alone
