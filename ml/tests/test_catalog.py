"""The catalog generator: deterministic, honest splits, one text composition."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import catalog
from contract import LABELS, SEED, compose_text

SMALL = {"train": 300, "val": 100, "test": 100}


def _rows(cat):
    return [(s, p.category, p.name, p.brand, p.description, p.ptype, p.novelty) for s in catalog.SPLITS for p in cat[s]]


def test_same_seed_same_catalog():
    a = catalog.generate_catalog(SEED, SMALL)
    b = catalog.generate_catalog(SEED, SMALL)
    assert _rows(a) == _rows(b)


def test_other_seed_other_catalog():
    a = catalog.generate_catalog(SEED, SMALL)
    b = catalog.generate_catalog(SEED + 1, SMALL)
    assert _rows(a) != _rows(b)


def test_same_catalog_in_a_fresh_interpreter_with_another_hash_seed():
    """Nothing may depend on PYTHONHASHSEED (set iteration, hash())."""
    code = ("import sys; sys.path.insert(0, 'ml'); import catalog, hashlib;"
            "c = catalog.generate_catalog(20261125, {'train': 200, 'val': 50, 'test': 50});"
            "print(hashlib.sha256(repr([(p.category, p.text) for s in catalog.SPLITS for p in c[s]]).encode()).hexdigest())")
    outs = set()
    for hs in ("1", "2"):
        env = {"PYTHONHASHSEED": hs, "PATH": "/usr/bin:/bin"}
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                                text=True, cwd=Path(catalog.__file__).resolve().parent.parent).stdout)
    assert len(outs) == 1


def test_sizes_and_labels(text_data):
    for split, n in catalog.DEFAULT_SIZES.items():
        ys = list(text_data.y[split])
        assert len(ys) == 3 * n
        assert all(ys.count(k) == n for k in range(len(LABELS)))


def test_every_product_has_a_name_and_a_known_category(text_data):
    for ps in text_data.products.values():
        for p in ps:
            assert p.name.strip() and p.category in LABELS
            assert p.text == compose_text(p.name, p.brand, p.description)


def test_brand_and_description_are_sometimes_missing(text_data):
    ps = text_data.products["train"]
    with_brand = sum(bool(p.brand) for p in ps) / len(ps)
    with_desc = sum(bool(p.description) for p in ps) / len(ps)
    assert 0.3 < with_brand < 0.9
    assert 0.15 < with_desc < 0.6


def test_no_text_shared_between_splits(text_data):
    seen = {}
    for split in catalog.SPLITS:
        texts = text_data.texts[split]
        for t in texts:
            key = t.lower()
            assert key not in seen or seen[key] == split, f"{t!r} in {seen[key]} and {split}"
            seen[key] = split
        assert len({t.lower() for t in texts}) == len(texts), f"duplicates in {split}"


def test_v2_training_rows_never_reach_calibration_threshold_or_test(text_data):
    """train_all (catalog train + listing styles + noise rows) vs the held-out v2 splits."""
    held = {s: {t.lower() for t in text_data.texts[s]} for s in ("cal", "thr", "test", "styled_test")}
    train_all = {t.lower() for t in text_data.texts["train_all"]}
    for s, texts in held.items():
        assert not texts & train_all, s
    assert not held["cal"] & held["thr"] and not held["styled_test"] & held["test"]
    # noise rows are the only texts given with more than one label
    ps = text_data.products["train_all"]
    labels = {}
    for p in ps:
        labels.setdefault(p.text.lower(), set()).add(p.category)
    multi = {t for t, c in labels.items() if len(c) > 1}
    assert multi and all(p.ptype == "noise" for p in ps if p.text.lower() in multi)
    assert all(len(labels[p.text.lower()]) == len(LABELS) for p in ps if p.ptype == "noise")


def test_held_out_vocabulary_never_reaches_training(text_data):
    train_brands = {p.brand.lower() for p in text_data.products["train"] if p.brand}
    for split in ("val", "test"):
        brands = {p.brand.lower() for p in text_data.products[split] if p.brand}
        assert brands and not (brands & train_brands), split
        train_vocab = {b.lower() for t in catalog.PRODUCT_TYPES for b in t.brands if catalog.vocab_split(b) == "train"}
        assert not brands & train_vocab, split
    held_types = {t.key for t in catalog.PRODUCT_TYPES if t.holdout}
    assert held_types
    assert not held_types & {p.ptype for p in text_data.products["train"]}
    assert {t.key for t in catalog.PRODUCT_TYPES if t.holdout == "test"} <= {p.ptype for p in text_data.products["test"]}
    # vehicle models are split too
    splits = {m: s for m, _, s in catalog.VEHICLE_MODELS}
    assert set(splits.values()) == {"train", "val", "test"}


def test_confusable_families_exist_in_several_categories(text_data):
    """Cables, batteries, filters, lamps, paints, tools, switches, sensors, pumps..."""
    words = {"cabo": set(), "bateria": set(), "filtro": set(), "lampada": set(), "tinta": set(),
             "ferramenta": set(), "interruptor": set(), "switch": set(), "sensor": set(), "bomba": set(),
             "fonte": set(), "mangueira": set(), "parafuso": set(), "fechadura": set(), "rele": set()}
    for p in text_data.products["train"]:
        low = catalog._strip_accents(p.text.lower())
        for w in words:
            if w in low:
                words[w].add(p.category)
    for w in ("cabo", "bateria", "filtro", "lampada", "tinta", "sensor", "bomba", "interruptor", "fonte",
              "mangueira", "parafuso", "fechadura"):
        assert len(words[w]) >= 2, (w, words[w])
    assert all(len(v) == 3 for k, v in words.items() if k in ("cabo", "bateria", "filtro", "lampada", "tinta"))


def test_compose_text():
    assert compose_text("  Cimento CP II ", "Votoran", "") == "Cimento CP II Votoran"
    assert compose_text("a", None, "  b  ") == "a b"
    assert compose_text("", " ", None) == ""
    assert compose_text("Mouse", "Logitech", "Sem fio\tUSB") == "Mouse Logitech Sem fio\tUSB"
