"""The benchmark fold of every Macau script family, pinned in ``benchmarks/macau_folds.csv``.

Families listed in the file keep their fold, so a corpus batch changes the rows a fold tests, never
which families share it (protocol since 0.23.0; the file holds the class-balanced split that
StratifiedGroupKFold made on the 0.22.0 corpus). A family not yet listed goes, in name order, to the
fold holding the fewest rows of its class, and is named on stderr so that the merge adds it to the
file (``scripts/merge_macau_batch.py`` refuses a batch whose family is not listed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

N_FOLDS = 5
FOLDS_FILE = Path(__file__).resolve().parent / "macau_folds.csv"
LABELS = ("scam", "legit")


def read_pinned(path: Path = FOLDS_FILE) -> pd.DataFrame:
    """The pinned table (family, fold, label), checked: one row per family, folds 1..N_FOLDS."""
    pinned = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(pinned.columns) != ["family", "fold", "label"]:
        raise SystemExit(f"{path}: the header must be 'family,fold,label', not {','.join(pinned.columns)!r}")
    twice = sorted(set(pinned.loc[pinned["family"].duplicated(), "family"]))
    if twice:
        raise SystemExit(f"{path}: families listed twice: {twice}; keep one row each")
    bad_fold = pinned.loc[~pinned["fold"].isin([str(k) for k in range(1, N_FOLDS + 1)]), "family"].tolist()
    bad_label = pinned.loc[~pinned["label"].isin(LABELS), "family"].tolist()
    if bad_fold or bad_label:
        raise SystemExit(
            f"{path}: fold must be 1..{N_FOLDS} and label scam or legit; check rows {bad_fold + bad_label}"
        )
    return pinned.astype({"fold": int})


def fold_map(macau: pd.DataFrame, path: Path = FOLDS_FILE) -> dict[str, int]:
    """The fold (1..N_FOLDS) of every script family in ``macau`` (columns family, label)."""
    pinned = read_pinned(path)
    fold_of = dict(zip(pinned["family"], pinned["fold"], strict=True))
    label_of = dict(zip(pinned["family"], pinned["label"], strict=True))
    sizes = macau.groupby("family")["label"].agg(["first", "nunique", "size"])
    for family, row in sizes.iterrows():
        if row["nunique"] != 1:
            raise SystemExit(f"Macau family {family!r} has both scam and legit rows; a family is one class")
        if family in label_of and label_of[family] != row["first"]:
            raise SystemExit(
                f"{path}: family {family!r} is listed as {label_of[family]} but its rows are {row['first']}"
            )
    load = {(k, label): 0 for k in range(1, N_FOLDS + 1) for label in LABELS}
    for family, row in sizes.iterrows():
        if family in fold_of:
            load[fold_of[family], row["first"]] += int(row["size"])
    for family, row in sizes.iterrows():
        if family not in fold_of:
            k = min(range(1, N_FOLDS + 1), key=lambda k: (load[k, row["first"]], k))
            fold_of[family] = k
            load[k, row["first"]] += int(row["size"])
            print(f"note: Macau family {family!r} is not in {path.name}; put in fold {k}", file=sys.stderr)
    return {family: fold_of[family] for family in sizes.index}
