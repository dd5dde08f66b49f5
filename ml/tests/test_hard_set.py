"""Issue 23's targets, measured on the shipped file through ONNX Runtime: the project's own
hand-written hard sets (ml/eval/, never used for training or any choice) and the generator's
held-out test split.

Targets on hard set 2 (the final, untouched set): accuracy >= 0.99, accuracy among
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
# v1's figures, which v2 must not fall below (catalog test accuracy 0.9820; hard set 1 and 2
# accuracy 0.9647 / 0.9187, unflagged accuracy 0.9816 / 0.9394).
V1 = {"catalog": 0.9820, "hard set 1": (0.9647, 0.9816), "hard set 2": (0.9187, 0.9394)}


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
    assert len(rows) >= 450
    counts = {c: sum(r["category"] == c for r in rows) for c in LABELS}
    assert min(counts.values()) >= 0.3 * len(rows), counts
    assert len({r["name"].lower() for r in rows}) == len(rows), "duplicate names"
    assert all(r["name"].strip() and r["note"] for r in rows)


def test_hard_sets_share_no_listing_with_each_other_or_real_products():
    names = [{r["name"].lower() for r in train.hard_set(n)} for n in HARD_SET_PATHS]
    real = {r["name"].lower() for r in train.real_products()}
    assert not names[0] & names[1] and not (names[0] | names[1]) & real


@pytest.mark.parametrize("name", list(HARD_SET_PATHS))
def test_v2_is_better_than_v1_on_the_hard_sets(hard, name):
    acc, _, unflagged = hard[name]
    assert acc > V1[name][0] and unflagged > V1[name][1], hard[name]


@pytest.mark.xfail(strict=True, reason="not met: hard set 2 accuracy 0.9626 (17 errors of 455) < 0.99")
def test_hard_set_accuracy(hard):
    assert hard["hard set 2"][0] >= ACCURACY, hard["hard set 2"]


@pytest.mark.xfail(strict=True, reason="not met: hard set 2 unflagged accuracy 0.9849 (6 wrong of 397) < 0.995")
def test_hard_set_unflagged_accuracy(hard):
    assert hard["hard set 2"][2] >= UNFLAGGED_ACCURACY, hard["hard set 2"]


@pytest.mark.xfail(strict=True, reason="not met: hard set 2 flagged 12.75% > 10%")
def test_hard_set_flagged_share(hard):
    assert hard["hard set 2"][1] <= MAX_FLAGGED, hard["hard set 2"]


def test_hard_set_1_unflagged_accuracy_and_flagged_share(hard):
    """Hard set 1 meets the flag targets (its accuracy, 0.9882, does not reach 0.99)."""
    _, flagged, unflagged = hard["hard set 1"]
    assert unflagged >= UNFLAGGED_ACCURACY and flagged <= MAX_FLAGGED, hard["hard set 1"]


def test_generator_test_split_keeps_its_figures(text_session, text_data, text_test_proba):
    """The generator's held-out test split: accuracy at least v1's 0.9820; unflagged accuracy
    >= 99.5% with at most 10% flagged."""
    y = text_data.y["test"]
    assert (text_test_proba.argmax(1) == y).mean() >= V1["catalog"]
    thr = float(text_session.get_modelmeta().custom_metadata_map["review_threshold"])
    cov = train.coverage_table(y, text_test_proba, thr)
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
