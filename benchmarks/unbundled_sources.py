"""The default model on the shared corpora it may not bundle: what users get on calls it never saw.

The cross-source benchmark trains on every shared corpus; the default model (``scamclf train``)
trains only on those whose licences let them ship (``data/README.md``). Four shared corpora are
therefore unseen by it: Switchboard (real, long, casual telephone conversations, cut into call-length
chunks as ``cross_source.py`` cuts them), scamdetector_sg (short Singapore call snippets, scam and
look-alike), telecom_fraud_texts5 (Chinese caller utterances and operator SMS) and
fraud_call_india (short call and SMS texts); Switchboard is also scored as whole conversations (up to
13,000 characters: real calls are long, and no corpus the model trains on has a call past 2,500). This scores them (at most ``--rows`` per source,
seeded) with a saved model at its own threshold and reports the share flagged by class and length
band, ROC-AUC where both classes are present, and how many rows get an ``unfamiliar writing``
note (none should: these are English and Chinese).

    python benchmarks/unbundled_sources.py [--model-path models/scamclf.joblib] [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import cross_source  # noqa: E402

UNBUNDLED = ("switchboard_swda", "scamdetector_sg", "telecom_fraud_texts5", "fraud_call_india")
WHOLE_CALLS = "switchboard_swda (whole calls)"
BANDS = [0, 200, 1000, 3000, 6000, 10000, float("inf")]
BAND_NAMES = ["<200", "200-999", "1000-2999", "3000-5999", "6000-9999", "10000+"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", type=Path, default=ROOT / "models" / "scamclf.joblib")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--rows", type=int, default=3000, help="at most this many rows per source (seeded sample)")
    args = parser.parse_args()

    import scamclf

    model = scamclf.load(args.model_path)
    data = cross_source.load_all(args.shared)
    data = data[data["source"].isin(UNBUNDLED)]
    whole = pd.read_csv(args.shared / "switchboard_swda.csv", usecols=["text", "label"]).assign(source=WHOLE_CALLS)
    data = pd.concat([data, whole[whole["text"].astype(str).str.strip() != ""]])
    data = pd.concat([group.sample(min(len(group), args.rows), random_state=0) for _, group in data.groupby("source")])
    start = time.perf_counter()
    scored = model.score_texts(data["text"].tolist(), evidence="none")
    seconds = time.perf_counter() - start
    data = data.assign(
        p=scored["scam_probability"].to_numpy(),
        flagged=(scored["verdict"] == "scam").to_numpy(),
        noted=scored["note"].str.startswith("unfamiliar writing").to_numpy(),
        band=pd.cut(data["text"].str.len(), BANDS, labels=BAND_NAMES, right=False),
    )
    print(
        f"### Default model on the unbundled shared corpora ({date.today()}, {platform.machine()}, "
        f"{len(data)} rows scored in {seconds:.1f} s; threshold {model.threshold:.3f})\n"
    )
    print(
        "| source | class | rows | flagged | " + " | ".join(f"flagged, {b} chars" for b in BAND_NAMES) + " | ROC-AUC |"
    )
    print("| --- | --- | --- | --- | " + " | ".join("---" for _ in BAND_NAMES) + " | --- |")
    for source, rows in data.groupby("source"):
        both = rows["label"].nunique() == 2
        auc = f"{roc_auc_score(rows['label'] == 'scam', rows['p']):.3f}" if both else "-"
        for label, part in rows.groupby("label"):
            bands = part.groupby("band", observed=False)["flagged"].agg(["mean", "size"])
            cells = [f"{m:.3f} ({n})" if n else "-" for m, n in zip(bands["mean"], bands["size"], strict=True)]
            print(
                f"| {source} | {label} | {len(part)} | {part['flagged'].mean():.3f} | "
                + " | ".join(cells)
                + f" | {auc} |"
            )
    print(f"\nRows noted as unfamiliar writing: {int(data['noted'].sum())} of {len(data)}.")


if __name__ == "__main__":
    main()
