"""Issue 23's targets, measured on the shipped file through ONNX Runtime: the project's own
hand-written hard sets (ml/eval/, never used for training or any choice) and the generator's
held-out test split.

Targets on every hard set (set 3 is the final, untouched one; sets 1 and 2 were used while
developing the model, see ml/eval/README.md): accuracy >= 0.99, accuracy among
needs_review=false >= 0.995, flagged <= 10%. Those the shipped model does not meet are
`xfail(strict=True)` with the measured figure: they stay visible in every run, and the day a
model meets them the test fails until the mark is removed. The model card has the figures.
"""
from __future__ import annotations

import numpy as np
import pytest

import train
from contract import HARD_SET_PATHS, LABELS

ACCURACY, UNFLAGGED_ACCURACY, MAX_FLAGGED = 0.99, 0.995, 0.10
# v1's figures, which later models must not fall below (catalog test accuracy 0.9820; hard set 1
# and 2 accuracy 0.9647 / 0.9187, unflagged accuracy 0.9816 / 0.9394).
V1 = {"catalog": 0.9820, "hard set 1": (0.9647, 0.9816), "hard set 2": (0.9187, 0.9394)}
# The first v2 model (2026.12.03, train-split vocabulary only): accuracy, flagged, unflagged
# accuracy; set 3 measured on its file after set 3 was written.
V2 = {"catalog": (0.9838, 0.0727, 0.9974), "hard set 1": (0.9882, 0.0725, 0.9979),
      "hard set 2": (0.9626, 0.1275, 0.9849), "hard set 3": (0.9798, 0.0985, 0.9972)}
# (set, target) pairs the shipped model does not meet, with the measured figure
NOT_MET = {("hard set 2", "accuracy"): "hard set 2 accuracy 0.9868 (6 errors of 455) < 0.99"}


def _measure(text_session, name):
    rows = train.hard_set(name)
    y = np.array([LABELS.index(r["category"]) for r in rows])
    p = train.ort_text_proba(text_session, [r["text"] for r in rows])
    thr = float(text_session.get_modelmeta().custom_metadata_map["review_threshold"])
    cov = train.coverage_table(y, p, thr)
    return float((p.argmax(1) == y).mean()), 1 - cov["coverage_above"], cov["accuracy_above"]


@pytest.fixture(scope="module")
def hard(text_session):
    return {name: _measure(text_session, name) for name in HARD_SET_PATHS}


@pytest.mark.parametrize("name", list(HARD_SET_PATHS))
def test_hard_set_is_well_formed(name):
    rows = train.hard_set(name)
    assert len(rows) >= 390
    counts = {c: sum(r["category"] == c for r in rows) for c in LABELS}
    assert min(counts.values()) >= 0.3 * len(rows), counts
    assert len({r["name"].lower() for r in rows}) == len(rows), "duplicate names"
    assert all(r["name"].strip() and r["note"] for r in rows)


def test_hard_sets_share_no_listing_with_each_other_or_real_products():
    names = {n: {r["name"].lower() for r in train.hard_set(n)} for n in HARD_SET_PATHS}
    real = {r["name"].lower() for r in train.real_products()}
    sets = list(names.values())
    for i, a in enumerate(sets):
        assert not a & real
        for b in sets[i + 1:]:
            assert not a & b


@pytest.mark.parametrize("name", ["hard set 1", "hard set 2"])
def test_better_than_v1_on_the_hard_sets(hard, name):
    acc, _, unflagged = hard[name]
    assert acc > V1[name][0] and unflagged > V1[name][1], hard[name]


@pytest.mark.parametrize("name", list(HARD_SET_PATHS))
def test_more_accurate_than_the_first_v2_model(hard, name):
    assert hard[name][0] > V2[name][0], hard[name]


def _target_cases():
    for name in HARD_SET_PATHS:
        for target in ("accuracy", "unflagged accuracy", "flagged share"):
            reason = NOT_MET.get((name, target))
            marks = [pytest.mark.xfail(strict=True, reason=f"not met: {reason}")] if reason else []
            yield pytest.param(name, target, marks=marks, id=f"{name}-{target}")


@pytest.mark.parametrize("name, target", list(_target_cases()))
def test_hard_set_targets(hard, name, target):
    acc, flagged, unflagged = hard[name]
    if target == "accuracy":
        assert acc >= ACCURACY, hard[name]
    elif target == "unflagged accuracy":
        assert unflagged >= UNFLAGGED_ACCURACY, hard[name]
    else:
        assert flagged <= MAX_FLAGGED, hard[name]


def test_generator_test_split_keeps_its_figures(text_session, text_data, text_test_proba):
    """The generator's test split through the shipped file (its products were never trained
    on; its brands and vehicles are, in other products): at least the first v2 model's
    accuracy and unflagged accuracy, at most 10% flagged."""
    y = text_data.y["test"]
    assert (text_test_proba.argmax(1) == y).mean() >= V2["catalog"][0]
    thr = float(text_session.get_modelmeta().custom_metadata_map["review_threshold"])
    cov = train.coverage_table(y, text_test_proba, thr)
    assert cov["accuracy_above"] >= V2["catalog"][2] and 1 - cov["coverage_above"] <= MAX_FLAGGED, cov


def test_held_out_vocabulary_estimate_keeps_v2s_figures(text_session, text_data, text_pipeline):
    """The honest figure for unseen brands: the same recipe fitted without the test split's
    vocabulary (test-holdout fold, shipped calibration and threshold), on the test split: at
    least the first v2 model's accuracy (which never saw that vocabulary either), unflagged
    accuracy >= 99.5%, at most 10% flagged."""
    hold_s = text_pipeline.fold_pipes["hold_s"]
    y = text_data.y["test"]
    p = hold_s.predict_proba(text_data.texts["test"])
    thr = float(text_session.get_modelmeta().custom_metadata_map["review_threshold"])
    cov = train.coverage_table(y, p, thr)
    assert (p.argmax(1) == y).mean() >= V2["catalog"][0]
    assert cov["accuracy_above"] >= UNFLAGGED_ACCURACY and 1 - cov["coverage_above"] <= MAX_FLAGGED, cov


def test_listing_style_test_split(text_session, text_data):
    y = text_data.y["styled_test"]
    p = train.ort_text_proba(text_session, text_data.texts["styled_test"])
    thr = float(text_session.get_modelmeta().custom_metadata_map["review_threshold"])
    cov = train.coverage_table(y, p, thr)
    assert (p.argmax(1) == y).mean() >= 0.975
    assert cov["accuracy_above"] >= UNFLAGGED_ACCURACY and 1 - cov["coverage_above"] <= MAX_FLAGGED, cov


def test_unknown_words_lower_the_confidence(text_session):
    """Made-up words and codes: no class gets a confident answer (noise rows in training)."""
    thr = float(text_session.get_modelmeta().custom_metadata_map["review_threshold"])
    texts = ["zorbek quintalix", "XKT-4471 VRML", "plimbo 3321 vastrel", "QWZ 88-K", "frobnicador turvo"]
    p = train.ort_text_proba(text_session, texts)
    assert (p.max(1) < thr).all(), dict(zip(texts, p.max(1).round(3)))
