"""Quality floors on the held-out split, measured through ONNX Runtime on the shipped files."""
from __future__ import annotations

import pytest
from sklearn.metrics import accuracy_score, f1_score

import train
from contract import LABELS

FLOOR = 0.97


def test_text_model_held_out_accuracy(text_data, text_test_proba):
    y = text_data.y["test"]
    pred = text_test_proba.argmax(1)
    acc = accuracy_score(y, pred)
    f1 = f1_score(y, pred, average="macro")
    assert acc >= FLOOR, acc
    assert f1 >= FLOOR, f1


def test_text_model_every_class_is_good(text_data, text_test_proba):
    y = text_data.y["test"]
    pred = text_test_proba.argmax(1)
    for k, code in enumerate(LABELS):
        recall = (pred[y == k] == k).mean()
        precision = (y[pred == k] == k).mean()
        assert recall >= 0.95 and precision >= 0.95, (code, precision, recall)


def test_review_threshold_keeps_its_promise_on_test(text_session, text_data, text_test_proba):
    thr = float(text_session.get_modelmeta().custom_metadata_map["review_threshold"])
    row = train.coverage_table(text_data.y["test"], text_test_proba, thr)
    assert row["coverage_above"] >= 0.9
    assert row["accuracy_above"] >= 0.995


def test_features_model_held_out_accuracy(features_session, feature_data):
    X, y = feature_data
    pred = train.ort_feature_proba(features_session, X["test"]).argmax(1)
    assert accuracy_score(y["test"], pred) >= 0.99


@pytest.mark.parametrize("kind", ["text", "features"])
def test_probabilities_are_confident_on_easy_inputs(kind, text_session, features_session, feature_data):
    if kind == "text":
        p = train.ort_text_proba(text_session, ["cimento cp ii 50kg", "mouse sem fio usb", "pastilha de freio dianteira"])
        assert list(p.argmax(1)) == [2, 1, 0]
    else:
        X, _ = feature_data
        p = train.ort_feature_proba(features_session, X["test"][:10])
    assert (p.max(1) > 0.8).all()
