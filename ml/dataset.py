"""Reading a labelled product file (CSV or TSV) for `train.py --data`, in one streaming pass.

Columns (header line, any order, names case-insensitive): `name` and `category` required;
`brand`, `description`, `category_name` optional; other columns are ignored. Bad data stops
with a `DataError` whose message says what and where; nothing is trained.

Memory stays bounded on large files: rows go to train/validation/test by a hash of their
near-duplicate key (so near-duplicate names stay on one side), and each split keeps a uniform
reservoir sample of at most its cap; only a 64-bit hash per distinct text is kept for the
duplicate count (~100 bytes a row in CPython: ~100 MB for 1M distinct rows).
"""
from __future__ import annotations

import csv
import hashlib
import random
import re
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from contract import compose_text

REQUIRED = ("name", "category")
OPTIONAL = ("brand", "description", "category_name")
# Share of near-duplicate groups per split, in percent of the hash space.
SPLIT_PERCENT = {"train": 80, "val": 10, "test": 10}
DEFAULT_CAPS = {"train": 300_000, "val": 50_000, "test": 50_000}
DEFAULT_MIN_EXAMPLES = 20
PROGRESS_EVERY = 100_000

csv.field_size_limit(1 << 24)


class DataError(ValueError):
    """The data cannot be trained on; the message says why, for a person."""


@dataclass
class Split:
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    # names kept beside the texts, for the model card's examples
    names: list[str] = field(default_factory=list)
    seen: int = 0  # rows that fell in this split, before sampling


@dataclass
class Dataset:
    path: Path
    delimiter: str
    rows: int = 0
    duplicates: int = 0
    conflicting: int = 0  # rows whose text appeared before with another category
    counts: dict[str, int] = field(default_factory=dict)  # distinct rows per category
    split_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    splits: dict[str, Split] = field(default_factory=dict)
    digest: str = ""
    seconds: float = 0.0

    @property
    def labels(self) -> list[str]:
        return sorted(self.counts)


def near_duplicate_key(name: str) -> str:
    """Names that differ only in case, accents, punctuation, numbers, units or word order share a
    key: "SSD Kingston 480GB" and "ssd kingston 1 TB" go to the same split."""
    folded = unicodedata.normalize("NFKD", name.casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    # digits out, then words of 3+ letters: units (gb, kg, ml, v) go with the numbers
    words = {re.sub(r"\d+", "", w) for w in re.findall(r"\w+", folded)}
    return " ".join(sorted(w for w in words if len(w) >= 3))


def split_of(name: str, seed: int) -> str:
    digest = hashlib.blake2b(f"{seed}\x1f{near_duplicate_key(name)}".encode(), digest_size=8).digest()
    bucket = int.from_bytes(digest, "big") % 100
    edge = 0
    for split, percent in SPLIT_PERCENT.items():
        edge += percent
        if bucket < edge:
            return split
    return "test"


def _lines(path: Path, hasher):
    """Decoded lines with their numbers; undecodable bytes stop with the line and the bytes."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            hasher.update(raw)
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as e:
                bad = raw[e.start:e.start + 4]
                raise DataError(f"{path}: line {number} is not UTF-8 (bytes {bad!r} at column {e.start + 1}); "
                                f"save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
            yield line


def _header(path: Path, first: str) -> tuple[str, dict[str, int]]:
    delimiter = "\t" if "\t" in first else ","
    columns = [c.strip().lower() for c in next(csv.reader([first], delimiter=delimiter))]
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise DataError(f"{path}: missing required column(s) {', '.join(missing)} in the header "
                        f"(found: {', '.join(columns) or 'nothing'}); expected name, category and optionally "
                        f"brand, description, category_name, separated by commas or tabs")
    duplicated = sorted({c for c in columns if columns.count(c) > 1 and c in REQUIRED + OPTIONAL})
    if duplicated:
        raise DataError(f"{path}: column(s) {', '.join(duplicated)} appear more than once in the header")
    return delimiter, {c: columns.index(c) for c in REQUIRED + OPTIONAL if c in columns}


def read(path: Path, seed: int = 0, caps: dict[str, int] | None = None,
         min_examples: int = DEFAULT_MIN_EXAMPLES, progress=sys.stderr) -> Dataset:
    """Reads, checks and splits the file in one pass; raises DataError on bad data."""
    started = time.time()
    caps = caps or DEFAULT_CAPS
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; expected a header line (name, category, ...) and rows")
    hasher = hashlib.blake2b(digest_size=16)
    lines = _lines(path, hasher)
    first = next(lines, "")
    if not first.strip():
        raise DataError(f"{path}: the first line is blank; expected a header line (name, category, ...)")
    delimiter, at = _header(path, first)
    data = Dataset(path=path, delimiter=delimiter, splits={s: Split() for s in SPLIT_PERCENT})
    rngs = {s: random.Random(f"{seed}/{s}") for s in SPLIT_PERCENT}
    seen_texts: dict[int, str] = {}
    reader = csv.reader(lines, delimiter=delimiter)
    width = len(next(csv.reader([first], delimiter=delimiter)))
    for fields in reader:
        line = reader.line_num + 1  # the header was read apart
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != width:
            raise DataError(f"{path}: line {line} has {len(fields)} fields, the header has {width} "
                            f"(an unquoted {'tab' if delimiter == chr(9) else 'comma'} in a value?)")
        get = {c: fields[i].strip() for c, i in at.items()}
        name, category = get["name"], sys.intern(get["category"])
        if not name:
            raise DataError(f"{path}: line {line}: `name` is empty")
        if not category:
            raise DataError(f"{path}: line {line}: `category` is empty")
        data.rows += 1
        text = compose_text(name, get.get("brand"), get.get("description"))
        key = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
        previous = seen_texts.get(key)
        if previous == category:
            data.duplicates += 1
            continue
        if previous is not None:
            data.conflicting += 1
        else:
            seen_texts[key] = category
        data.counts[category] = data.counts.get(category, 0) + 1
        if get.get("category_name") and category not in data.names:
            data.names[category] = get["category_name"]
        split = split_of(name, seed)
        per = data.split_counts.setdefault(split, {})
        per[category] = per.get(category, 0) + 1
        _sample(data.splits[split], caps[split], rngs[split], text, category, name)
        if data.rows % PROGRESS_EVERY == 0 and progress:
            print(f"[data] {data.rows:,} rows read ({time.time() - started:.0f}s)", file=progress, flush=True)
    if data.rows == 0:
        raise DataError(f"{path}: no data rows after the header")
    _check_categories(data, min_examples)
    data.digest = hasher.hexdigest()
    data.seconds = time.time() - started
    return data


def _sample(split: Split, cap: int, rng: random.Random, text: str, label: str, name: str) -> None:
    """Reservoir sampling (algorithm R): a uniform sample of at most `cap` rows of the split."""
    split.seen += 1
    if len(split.texts) < cap:
        split.texts.append(text)
        split.labels.append(label)
        split.names.append(name)
        return
    j = rng.randrange(split.seen)
    if j < cap:
        split.texts[j], split.labels[j], split.names[j] = text, label, name


def _check_categories(data: Dataset, min_examples: int) -> None:
    if len(data.counts) < 2:
        raise DataError(f"{data.path}: only one category ({', '.join(data.counts)}); a model needs at least two")
    few = sorted((n, c) for c, n in data.counts.items() if n < min_examples)
    if few:
        listed = ", ".join(f"{c} ({n})" for n, c in few[:20]) + (f" and {len(few) - 20} more" if len(few) > 20 else "")
        raise DataError(f"{data.path}: {len(few)} categor{'y has' if len(few) == 1 else 'ies have'} fewer than "
                        f"{min_examples} distinct examples: {listed}. Add examples, merge the category into another, "
                        f"or lower --min-examples")
    train = data.split_counts.get("train", {})
    thin = sorted((train.get(c, 0), c) for c in data.counts if train.get(c, 0) < 3)
    if thin:
        listed = ", ".join(f"{c} ({n})" for n, c in thin)
        raise DataError(f"{data.path}: after the split (near-duplicate names kept together), too few training "
                        f"examples (at least 3) for: {listed}; their names are too alike: add varied examples")
