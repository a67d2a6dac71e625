"""Automated and pre-recorded calls (Macau corpus batch 3): how often are they flagged?

Batch 3 (``data/raw/macau/*_3.jsonl``) is held out: scamclf and the plain baseline are trained as
``cross_source.py`` trains them, on every shared source plus the rest of the Macau corpus, then
score batch 3: scam recall and the share of genuine look-alike and ordinary automated calls
flagged, per language, at each system's threshold. (Batch 3 was first scored this way before it
joined the corpus; since then it is in the bundled corpus and the default model, never here.)
``--batch`` holds out any other set of Macau-format files the same way (a new batch, staged
outside the corpus, is scored like this once before it joins).

    python benchmarks/automated_calls.py [--shared ../shared/data] [--jobs 2]
    python benchmarks/automated_calls.py --batch 'data/raw/macau/*_4.jsonl'
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cross_source as cs
import pandas as pd

from scamclf.dataset import mask_label_leaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=cs.ROOT.parent / "shared" / "data")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scores", type=Path, help="also write each held-out row's scores to this CSV")
    parser.add_argument(
        "--batch", default="data/raw/macau/*_3.jsonl", help="files to hold out (a glob under the repository)"
    )
    args = parser.parse_args()
    paths = sorted(cs.ROOT.glob(args.batch))
    if not paths:
        parser.error(f"--batch {args.batch!r} matches no file under {cs.ROOT}")
    test = mask_label_leaks(pd.DataFrame(cs.read_jsonl(paths)).assign(source=lambda f: "macau_" + f["lang"]))
    train = cs.load_all(args.shared)
    train = train[~train["text"].isin(set(test["text"]))]
    clf = cs.scamclf_fit(train, args.jobs)
    test["scamclf_probability"] = clf.predict_proba(test["text"].tolist())[:, 1]
    test["scamclf"] = test["scamclf_probability"] >= clf.threshold_
    test["baseline"] = cs.baseline_scorer(train)(test["text"].tolist()) >= 0.5
    if args.scores:
        test.drop(columns=["text"]).to_csv(args.scores, index=False)
    table = pd.concat(
        [
            test.groupby(["lang", "category"])[["scamclf", "baseline"]].agg(["size", "mean"]),
            test.assign(lang="all").groupby(["lang", "category"])[["scamclf", "baseline"]].agg(["size", "mean"]),
        ]
    )
    table = pd.DataFrame(
        {
            "rows": table[("scamclf", "size")],
            "scamclf flagged": table[("scamclf", "mean")].round(3),
            "baseline flagged": table[("baseline", "mean")].round(3),
        }
    )
    print(f"scamclf threshold {clf.threshold_:.3f}; baseline 0.5; {len(train):,} training rows")
    print("| language | category | rows | scamclf flagged | baseline flagged |")
    print("| --- | --- | --- | --- | --- |")
    for (lang, category), row in table.iterrows():
        print(
            f"| {lang} | {category} | {int(row['rows'])} | {row['scamclf flagged']:.3f} | {row['baseline flagged']:.3f} |"
        )


if __name__ == "__main__":
    main()
