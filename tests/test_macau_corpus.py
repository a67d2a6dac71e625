"""The Macau-scam corpus: well-formed, covering its families, and free of surface shortcuts."""

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from scamclf.config import SCAM_TYPES

ROOT = Path(__file__).resolve().parents[1] / "data" / "raw" / "macau"


@pytest.fixture(scope="module")
def macau() -> pd.DataFrame:
    rows = [json.loads(line) for path in sorted(ROOT.glob("*.jsonl")) for line in path.read_text("utf-8").splitlines()]
    return pd.DataFrame(rows)


def _patterns_cited(macau: pd.DataFrame) -> set[str]:
    """The pattern ids the rows name (``P29;P60`` cells split)."""
    return {p.strip() for cell in macau["pattern"] for p in str(cell).split(";")}


def test_corpus_meets_size_floors_in_every_language(macau):
    counts = macau.groupby("category").size()
    assert counts["scam"] >= 300 and counts["lookalike"] >= 300 and counts["ordinary"] > 0
    for lang in ("en", "ms", "zh"):
        sub = macau[macau["lang"] == lang]
        assert (sub["label"] == "scam").sum() >= 50 and (sub["category"] == "lookalike").sum() >= 50


def test_rows_are_consistent(macau):
    assert macau["id"].is_unique
    scam = macau["category"] == "scam"
    assert (macau.loc[scam, "label"] == "scam").all() and (macau.loc[~scam, "label"] == "legit").all()
    assert set(macau.loc[scam, "scam_type"]) <= set(SCAM_TYPES)
    assert (macau.loc[~scam, "scam_type"] == "").all()
    assert not macau["text"].str.contains(r"(?m)^(?:[AB]|caller|callee)\s*:").any()
    patterns = (ROOT / "PATTERNS.md").read_text()
    assert all(f"| {p} |" in patterns for p in _patterns_cited(macau))


def _surface(text: str) -> list[float]:
    n = max(len(text), 1)
    turns = text.count("\n") + 1
    return [
        np.log1p(n),
        turns,
        n / turns,
        sum(c.isdigit() for c in text) / n,
        sum(not c.isalnum() and not c.isspace() for c in text) / n,
        sum(c.isupper() for c in text) / n,
    ]


@pytest.mark.parametrize("subset", ["all", "scam_vs_lookalike"])
def test_surface_features_alone_cannot_tell_scams(macau, subset):
    data = macau if subset == "all" else macau[macau["category"] != "ordinary"]
    X = np.array([_surface(t) for t in data["text"]])
    y = (data["label"] == "scam").to_numpy()
    proba = cross_val_predict(
        LogisticRegression(max_iter=2000),
        X,
        y,
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
        method="predict_proba",
    )[:, 1]
    assert roc_auc_score(y, proba) <= 0.60


def test_every_file_is_as_the_datasheet_records_it():
    """A row edited without a datasheet entry (and its new hash) is an unrecorded change."""
    datasheet = (ROOT / "README.md").read_text()
    for path in sorted(ROOT.glob("*.jsonl")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest in datasheet, f"{path.name}: sha256 {digest} is not in the datasheet; record the change"


def test_every_pattern_a_row_follows_has_a_verified_source(macau):
    sources = (ROOT / "SOURCES.md").read_text()
    used = _patterns_cited(macau) - {"P00"}
    missing = sorted(p for p in used if not re.search(rf"(?m)^\| {p} \|.*\| verified \|\s*$", sources))
    assert not missing, f"pattern ids without a verified source in SOURCES.md: {missing}"


def test_every_family_has_a_pinned_benchmark_fold(macau):
    # benchmarks/cross_source.py keeps each family in the fold listed here; a family missing from
    # the file would be placed by load, so a merge that adds one must add it to the file too.
    folds = pd.read_csv(ROOT.parents[2] / "benchmarks" / "macau_folds.csv")
    label_of = dict(zip(folds["family"], folds["label"], strict=True))
    families = macau.groupby("family")["label"].agg(lambda s: "/".join(sorted(set(s))))
    missing = {f: families[f] for f in families.index if label_of.get(f) != families[f]}
    assert missing == {}, "add these families, with a fold, to benchmarks/macau_folds.csv (label must match)"


def test_the_challenge_set_is_recorded_and_kept_out_of_training():
    """Batch 15 is a held-out challenge set: hashed in the datasheet, in no training data."""
    from scamclf.dataset import load_bundled_corpus

    challenge = sorted((ROOT.parent / "macau_challenge").glob("*.jsonl"))
    assert [p.name for p in challenge] == ["en_15.jsonl", "ms_15.jsonl", "zh_15.jsonl"]
    datasheet = (ROOT / "README.md").read_text()
    texts = set()
    for path in challenge:
        assert hashlib.sha256(path.read_bytes()).hexdigest() in datasheet, f"{path.name}: record its hash"
        texts |= {json.loads(line)["text"] for line in path.read_text("utf-8").splitlines() if line.strip()}
    assert len(texts) == 120
    assert not texts & set(load_bundled_corpus()["text"]), "challenge rows leaked into the bundled corpus"
    assert not any((ROOT / p.name).exists() for p in challenge), "challenge files must stay out of data/raw/macau"
