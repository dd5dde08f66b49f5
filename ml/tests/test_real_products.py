"""Hand-written realistic ERP names (not produced by the generator) must all be right.

ml/tests/real_products.tsv is also read by the Rust tests through the worker:
columns category, name, brand, description (tab-separated, header line)."""
from __future__ import annotations

import pytest

import train
from contract import LABELS

ROWS = train.real_products()


def test_file_is_well_formed():
    assert len(ROWS) >= 30
    assert {r["category"] for r in ROWS} == set(LABELS)
    for r in ROWS:
        assert r["name"].strip()
        assert "\t" not in r["text"]


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_real_product(row, text_session):
    p = train.ort_text_proba(text_session, [row["text"]])[0]
    assert LABELS[int(p.argmax())] == row["category"], (row["text"], dict(zip(LABELS, p.round(3))))
