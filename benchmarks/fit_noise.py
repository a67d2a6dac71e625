"""Fit noise: how far apart two trainings land when their weights differ only by rounding.

The default model is trained twice per solver tolerance (``ScamClassifier(tol=...)``), as
``scamclf train`` trains it on the bundled corpus (without the 80/20 fit that only reports a
metric), once with its own weights and once with every weight multiplied by 1 + J * N(0, 1)
(seeded; ``--jitter`` J, 1e-15 by default: the same problem up to the last bits; 1e-7 is float32's
precision), so any difference between the two models is where the solver happened to stop, not
what the data says.
Reported per tolerance: training time (and its ratio to the first tolerance's, same run), both
thresholds of both models, how far the held-out (out-of-source) probabilities of the training rows
and the final model's probabilities on the challenge set (``data/raw/macau_challenge``, never
trained on) moved, and how many scam verdicts (each model at its own scam threshold) changed.

    python benchmarks/fit_noise.py [--tols 1e-4 1e-6] [--jitter 1e-15] [--jobs 2] [--sample ROWS]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import scamclf  # noqa: E402
from scamclf.api import fit_frame  # noqa: E402
from scamclf.model import ScamClassifier  # noqa: E402

CHALLENGE = ROOT / "data" / "raw" / "macau_challenge"


def challenge_texts() -> list[str]:
    rows = [json.loads(line) for path in sorted(CHALLENGE.glob("*.jsonl")) for line in path.open(encoding="utf-8")]
    return [row["text"] for row in rows if row.get("text")]


def train_once(frame, tol: float, jitter: np.ndarray | None, jobs: int) -> tuple[ScamClassifier, float]:
    started = time.perf_counter()
    estimator = fit_frame(ScamClassifier(tol=tol, n_jobs=jobs, random_split_eval=False), frame, sample_weight=jitter)
    return estimator, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tols", type=float, nargs="+", default=[1e-4, 1e-6])
    parser.add_argument("--jitter", type=float, default=1e-15, help="relative size of the weight perturbation")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--sample", type=int, help="train on this many rows drawn at random (a quick check)")
    args = parser.parse_args()

    frame = scamclf.training_frame()
    if args.sample and args.sample < len(frame):
        frame = frame.sample(args.sample, random_state=0).reset_index(drop=True)
    probe = challenge_texts()
    jitter = 1.0 + args.jitter * np.random.default_rng(0).standard_normal(len(frame))
    lines = []
    first_time = None
    for tol in args.tols:
        (a, time_a), (b, time_b) = (train_once(frame, tol, w, args.jobs) for w in (None, jitter))
        print(f"# tol {tol:g}: {time_a:.0f}s and {time_b:.0f}s", file=sys.stderr, flush=True)
        seconds = (time_a + time_b) / 2
        first_time = first_time or seconds
        oof = np.abs(a.oof_proba_ - b.oof_proba_)
        flips = int(((a.oof_proba_ >= a.threshold_) != (b.oof_proba_ >= b.threshold_)).sum())
        pa, pb = a.predict_proba(probe)[:, 1], b.predict_proba(probe)[:, 1]
        ch = np.abs(pa - pb)
        ch_flips = int(((pa >= a.threshold_) != (pb >= b.threshold_)).sum())
        lines.append(
            f"| {tol:g} | {seconds:.0f} ({seconds / first_time:.2f}x) | {a.threshold_:.3f} / {b.threshold_:.3f} | "
            f"{a.suspicious_threshold_:.3f} / {b.suspicious_threshold_:.3f} | {oof.mean():.5f} / {oof.max():.4f} | "
            f"{flips} of {len(oof)} | {ch.mean():.5f} / {ch.max():.4f} | {ch_flips} of {len(ch)} |"
        )
    print(
        f"Fit noise, {date.today()}, {platform.node()} ({platform.machine()}), Python {platform.python_version()}, "
        f"{len(frame)} training rows, weights jittered by {args.jitter:g} (relative)\n"
    )
    print(
        "| tol | training time, s (ratio) | scam threshold | suspicious threshold | held-out probability moved, "
        "mean / max | held-out scam verdicts changed | challenge-set probability moved, mean / max | "
        "challenge-set scam verdicts changed |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
