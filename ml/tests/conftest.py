"""Shared fixtures. The tests check the committed files in model/ (what ships);
they never retrain, except cheap deterministic refits for the parity checks."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ML_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ML_DIR))

import catalog  # noqa: E402
import train  # noqa: E402
from contract import FEATURES_MODEL_PATH, TEXT_MODEL_PATH  # noqa: E402


@pytest.fixture(scope="session")
def text_data() -> train.TextData:
    return train.load_text_data()


@pytest.fixture(scope="session")
def text_session():
    assert TEXT_MODEL_PATH.exists(), f"{TEXT_MODEL_PATH} missing: run ml/train.py"
    return train.ort_session(TEXT_MODEL_PATH)


@pytest.fixture(scope="session")
def features_session():
    assert FEATURES_MODEL_PATH.exists(), f"{FEATURES_MODEL_PATH} missing: run ml/train.py"
    return train.ort_session(FEATURES_MODEL_PATH)


@pytest.fixture(scope="session")
def text_pipeline(text_data):
    """The shipped text model's scikit-learn pipeline, refitted (training is deterministic)."""
    import onnx
    props = {p.key: p.value for p in onnx.load(TEXT_MODEL_PATH).metadata_props}
    return train.fit_text_variant(props["training_variant"], text_data)


@pytest.fixture(scope="session")
def text_test_proba(text_session, text_data):
    return train.ort_text_proba(text_session, text_data.texts["test"])


@pytest.fixture(scope="session")
def feature_data():
    return train.load_feature_data()


@pytest.fixture(scope="session")
def catalog_module():
    return catalog
