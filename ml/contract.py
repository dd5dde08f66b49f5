"""Names and rules shared by training, export and tests (see docs/CONTRACTS.md).

The worker (Rust) must compose the model text exactly like `compose_text`.
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "model"
TEXT_MODEL_PATH = MODEL_DIR / "product_category.onnx"
FEATURES_MODEL_PATH = MODEL_DIR / "product_category_features.onnx"
REAL_PRODUCTS_PATH = ROOT / "ml" / "tests" / "real_products.tsv"
# The project's hand-written hard sets (ml/eval/README.md): set 3 carries the final figures.
HARD_SET_PATHS = {"hard set 3": ROOT / "ml" / "eval" / "hard_listings_3.tsv",
                  "hard set 2": ROOT / "ml" / "eval" / "hard_listings_2.tsv",
                  "hard set 1": ROOT / "ml" / "eval" / "hard_listings.tsv"}

# Column order of the `probabilities` output of both models.
LABELS = ["AUTOPECAS", "INFORMATICA", "MATERIAL_CONSTRUCAO"]
LABEL_NAMES = {
    "AUTOPECAS": "Autopeças",
    "INFORMATICA": "Informática",
    "MATERIAL_CONSTRUCAO": "Material de Construção",
}
MODEL_VERSION = "2026.11.25"  # the features model
TEXT_MODEL_VERSION = "2026.12.03.2"  # text model v2, second model: every brand (issue 23)
TEXT_MODEL_NAME = "product-category-text"
FEATURES_MODEL_NAME = "product-category-features"

TEXT_INPUT = "text"
FEATURES_INPUT = "features"
OUTPUT = "probabilities"
NUM_FEATURES = 16

# Default seed of every random thing in ml/ (catalog, splits, models).
SEED = 20261125

REQUIRED_METADATA = ("labels", "label_names", "model_name", "model_version", "review_threshold")


def compose_text(name: str | None, brand: str | None = None, description: str | None = None) -> str:
    """The one text a text model sees for a product.

    The trimmed, non-empty values of name, brand and description, in that
    order, joined by one space. Nothing else: lowercasing and tokenisation
    happen inside the ONNX graph.
    """
    parts = []
    for value in (name, brand, description):
        if value is None:
            continue
        value = value.strip()
        if value:
            parts.append(value)
    return " ".join(parts)


def metadata(model_name: str, review_threshold: float, extra: dict[str, str] | None = None,
             version: str = MODEL_VERSION) -> dict[str, str]:
    """metadata_props written into both ONNX files."""
    props = {
        "labels": json.dumps(LABELS),
        "label_names": json.dumps(LABEL_NAMES, ensure_ascii=False),
        "model_name": model_name,
        "model_version": version,
        "review_threshold": f"{review_threshold:.2f}",
    }
    if extra:
        props.update(extra)
    return props
