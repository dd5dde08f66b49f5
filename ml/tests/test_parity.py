"""ONNX Runtime and scikit-learn agree. The pipelines are refitted here: training is
deterministic and takes a few seconds, so no pickles are committed."""
from __future__ import annotations

import json

import numpy as np
import onnx

import train
from contract import FEATURES_MODEL_PATH, TEXT_MODEL_PATH


def test_text_model_matches_scikit_learn(text_data, text_test_proba):
    props = {p.key: p.value for p in onnx.load(TEXT_MODEL_PATH).metadata_props}
    pipe = train.fit_text_variant(props["training_variant"], text_data)
    skl = pipe.predict_proba(text_data.texts["test"])
    np.testing.assert_allclose(text_test_proba, skl, atol=1e-4)
    assert (text_test_proba.argmax(1) == skl.argmax(1)).all()
    # and the refit reproduces the shipped model's threshold rule on validation
    thr = train.choose_threshold(text_data.y["val"], pipe.predict_proba(text_data.texts["val"]))
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
