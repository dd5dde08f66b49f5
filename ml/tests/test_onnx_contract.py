"""The ONNX files in model/ keep the contract the worker relies on (docs/CONTRACTS.md)."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from contract import (FEATURES_MODEL_NAME, FEATURES_MODEL_PATH, LABEL_NAMES, LABELS, MODEL_VERSION,
                      NUM_FEATURES, REQUIRED_METADATA, TEXT_MODEL_NAME, TEXT_MODEL_PATH, TEXT_MODEL_VERSION)

MODELS = {
    "text": (TEXT_MODEL_PATH, "text", onnx.TensorProto.STRING, 1, TEXT_MODEL_NAME),
    "features": (FEATURES_MODEL_PATH, "features", onnx.TensorProto.FLOAT, NUM_FEATURES, FEATURES_MODEL_NAME),
}
VERSIONS = {"text": TEXT_MODEL_VERSION, "features": MODEL_VERSION}


def _dims(value_info):
    return [d.dim_value if d.HasField("dim_value") else None for d in value_info.type.tensor_type.shape.dim]


@pytest.mark.parametrize("kind", MODELS)
def test_graph_contract(kind):
    path, in_name, in_type, width, _ = MODELS[kind]
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    assert [i.name for i in inputs] == [in_name]
    assert inputs[0].type.tensor_type.elem_type == in_type
    assert _dims(inputs[0]) == [None, width]
    assert [o.name for o in model.graph.output] == ["probabilities"]
    out = model.graph.output[0]
    assert out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert _dims(out) == [None, len(LABELS)]


@pytest.mark.parametrize("kind", MODELS)
def test_metadata(kind):
    path, _, _, _, name = MODELS[kind]
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    for key in REQUIRED_METADATA:
        assert key in props, key
    labels = json.loads(props["labels"])
    assert labels == LABELS
    assert json.loads(props["label_names"]) == LABEL_NAMES
    assert props["model_name"] == name
    assert props["model_version"] == VERSIONS[kind]
    t = float(props["review_threshold"])
    assert 0.0 < t < 1.0 and props["review_threshold"] == f"{t:.2f}"
    # the worker's drift baseline (categorizer_model_heldout_flagged_ratio)
    assert 0.0 <= float(props["heldout_flagged_ratio"]) <= 0.2


def test_string_normalisation_lives_in_the_graph(text_session):
    texts = ["LÂMPADA H4 12V 55W", "lâmpada h4 12v 55w", "CABO FLEXÍVEL 2,5MM AÇO", "cabo flexível 2,5mm aço",
             "Óleo De Câmbio", "óleo de câmbio"]
    p = text_session.run(["probabilities"], {"text": np.array(texts, dtype=object).reshape(-1, 1)})[0]
    for i in range(0, len(texts), 2):
        np.testing.assert_allclose(p[i], p[i + 1], atol=1e-6)


@pytest.mark.parametrize("batch", [1, 64])
def test_runs_with_batches_and_rows_sum_to_one(text_session, features_session, text_data, feature_data, batch):
    import train
    texts = text_data.texts["test"][:batch]
    p = train.ort_text_proba(text_session, texts)
    assert p.shape == (batch, len(LABELS)) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    X, _ = feature_data
    q = train.ort_feature_proba(features_session, X["test"][:batch])
    assert q.shape == (batch, len(LABELS)) and q.dtype == np.float32
    np.testing.assert_allclose(q.sum(1), 1.0, atol=1e-5)


def test_odd_texts_do_not_break_the_text_model(text_session):
    texts = ["x", "?", "12345", "ÇÃÕ", "a" * 2000, "tab\tand\nnewline", "emoji 🙂 mouse", "日本語"]
    p = text_session.run(["probabilities"], {"text": np.array(texts, dtype=object).reshape(-1, 1)})[0]
    assert p.shape == (len(texts), len(LABELS))
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)


def test_ort_sees_the_metadata(text_session, features_session):
    for sess, name in ((text_session, TEXT_MODEL_NAME), (features_session, FEATURES_MODEL_NAME)):
        meta = sess.get_modelmeta().custom_metadata_map
        assert set(REQUIRED_METADATA) <= set(meta)
        assert meta["model_name"] == name
        assert [o.name for o in sess.get_outputs()] == ["probabilities"]
        assert sess.get_outputs()[0].shape[-1] == len(json.loads(meta["labels"]))


def test_model_files_are_small():
    assert TEXT_MODEL_PATH.stat().st_size < 5_000_000
    assert FEATURES_MODEL_PATH.stat().st_size < 100_000


def test_text_graph_has_no_dense_tfidf_row():
    """The text model is a lookup graph (ml/text_graph.py): no op over a [N, vocabulary] row."""
    ops = {n.op_type for n in onnx.load(TEXT_MODEL_PATH).graph.node}
    assert ops.isdisjoint({"TfIdfVectorizer", "LinearClassifier", "MatMul", "Normalizer"}), ops

