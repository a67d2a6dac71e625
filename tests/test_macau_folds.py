"""benchmarks/macau_folds.py: Macau script families keep their pinned benchmark fold."""

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

spec = importlib.util.spec_from_file_location(
    "macau_folds", Path(__file__).resolve().parents[1] / "benchmarks" / "macau_folds.py"
)
macau_folds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(macau_folds)


def _rows(**families: tuple[str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [(family, label) for family, (label, n) in families.items() for _ in range(n)], columns=["family", "label"]
    )


@pytest.fixture()
def pinned(tmp_path):
    path = tmp_path / "folds.csv"
    path.write_text("family,fold,label\na,1,scam\nb,2,scam\nc,3,legit\nd,4,scam\ne,5,scam\n")
    return path


def test_listed_families_keep_their_fold_and_a_new_one_goes_to_the_lightest_fold_of_its_class(pinned, capsys):
    rows = _rows(a=("scam", 50), b=("scam", 10), c=("legit", 30), d=("scam", 40), e=("scam", 20), new=("scam", 5))
    folds = macau_folds.fold_map(rows, pinned)
    assert folds == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "new": 3}
    assert "'new' is not in folds.csv; put in fold 3" in capsys.readouterr().err
    # Fold 3 held no scams (only the legit family c). Growing a family never moves it.
    assert macau_folds.fold_map(_rows(a=("scam", 500), b=("scam", 1)), pinned) == {"a": 1, "b": 2}


def test_the_committed_file_lists_every_fold_once_per_family():
    table = macau_folds.read_pinned()
    assert table["family"].is_unique and set(table["fold"]) == set(range(1, macau_folds.N_FOLDS + 1))


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        ("family,fold\na,1\n", "header must be"),
        ("family,fold,label\na,1,scam\na,2,scam\n", "listed twice"),
        ("family,fold,label\na,6,scam\n", "fold must be 1..5"),
        ("family,fold,label\na,1,spam\n", "label scam or legit"),
    ],
)
def test_a_broken_folds_file_is_refused_with_a_message(tmp_path, csv, message):
    path = tmp_path / "folds.csv"
    path.write_text(csv)
    with pytest.raises(SystemExit, match=message):
        macau_folds.fold_map(_rows(a=("scam", 1)), path)


def test_a_family_must_be_one_class_and_match_its_listed_label(pinned):
    with pytest.raises(SystemExit, match="both scam and legit"):
        macau_folds.fold_map(pd.DataFrame({"family": ["a", "a"], "label": ["scam", "legit"]}), pinned)
    with pytest.raises(SystemExit, match="listed as legit but its rows are scam"):
        macau_folds.fold_map(_rows(c=("scam", 3)), pinned)
