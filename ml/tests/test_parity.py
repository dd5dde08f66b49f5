"""ONNX Runtime and scikit-learn agree. The pipelines are refitted here: training is
deterministic and takes a few seconds, so no pickles are committed."""
from __future__ import annotations

import json

import numpy as np
import onnx

import train
from contract import FEATURES_MODEL_PATH, TEXT_MODEL_PATH


def test_text_model_matches_scikit_learn(text_data, text_test_proba, text_pipeline):
    props = {p.key: p.value for p in onnx.load(TEXT_MODEL_PATH).metadata_props}
    pipe = text_pipeline
    skl = pipe.predict_proba(text_data.texts["test"])
    np.testing.assert_allclose(text_test_proba, skl, atol=1e-4)
    assert (text_test_proba.argmax(1) == skl.argmax(1)).all()
    # and the refit reproduces the shipped model's threshold rule on the threshold split
    thr = train.threshold_for(pipe, text_data)
    assert f"{thr:.2f}" == props["review_threshold"]


def test_features_model_matches_scikit_learn(features_session, feature_data):
    X, y = feature_data
    model = train.fit_feature_model(X, y)
    skl = model.predict_proba(X["test"])
    onx = train.ort_feature_proba(features_session, X["test"])
    np.testing.assert_allclose(onx, skl, atol=1e-5)
    assert (onx.argmax(1) == skl.argmax(1)).all()
    props = {p.key: p.value for p in onnx.load(FEATURES_MODEL_PATH).metadata_props}
    assert json.loads(props["labels"]) == [str(c) for c in train.LABELS]


# ERP-style whitespace (scikit-learn's char analyzer collapses runs of 2+ whitespace
# characters; the graph must too), accents, odd inputs.
ODD_TEXTS = ["PASTILHA  DE   FREIO\tDIANT", "cimento  cp ii 50kg", "mouse \t\t usb\n\nlogitech", "  cabo hdmi  ",
             "cabo\u00a0\u00a0flexível 2,5mm", "LÂMPADA H4 12V 55W", "", "?", "x", "日本語 🙂", "a" * 1000,
             "Óleo De Câmbio 75W90 1L", "parafuso sextavado 1/4\" x 2\" zincado"]


def test_text_model_matches_scikit_learn_on_odd_texts(text_session, text_pipeline):
    onx = train.ort_text_proba(text_session, ODD_TEXTS)
    np.testing.assert_allclose(onx, text_pipeline.predict_proba(ODD_TEXTS), atol=1e-4)
    for t, p in zip(ODD_TEXTS, onx):  # and one at a time (padding, empty token batches)
        np.testing.assert_allclose(train.ort_text_proba(text_session, [t])[0], p, atol=1e-6)


def test_texts_without_known_ngrams_go_to_review(text_session, text_pipeline):
    """A text the model has no evidence for must not be categorised confidently."""
    texts = ["", "?", "---", "日本語 🙂"]
    X = text_pipeline.named_steps["features"].transform(texts)
    assert X.nnz == 0  # no known n-gram: these really are evidence-free texts
    thr = float(text_session.get_modelmeta().custom_metadata_map["review_threshold"])
    p = train.ort_text_proba(text_session, texts)
    assert (p.max(1) < thr).all(), p
