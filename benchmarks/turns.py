"""Turn-by-turn scoring: per-turn latency as calls grow, and how early held-out calls are caught.

1. Latency: real Switchboard conversations of at least 200 turns, fed one turn at a time to
   the incremental scorer (with the evidence, as ``scamclf stream`` does). Median latency at
   turns 1-10 against turns 191-200, beside rescoring the whole prefix from scratch.
2. Early detection: for each multi-turn corpus in ../shared/data, a model trained on the bundled
   corpus without that corpus (leave one source out) scores a sample of its calls turn by turn:
   scam recall / false-positive rate of an alarm raised by turn k, median turns to the alarm.

    python benchmarks/turns.py [--calls 400] [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

import scamclf
from scamclf.evaluate import early_detection
from scamclf.turns import TurnScorer, split_turns

ROOT = Path(__file__).resolve().parents[1]
MULTI_TURN = ("teleantifraud_ma", "sgd_banks", "kdconv_zh", "multidogo_custside", "switchboard_swda")
SHOWN_TURNS = (1, 2, 3, 5, 10, 20)


def latency(model: scamclf.ScamModel, shared: Path, calls: int = 5, turns: int = 200) -> None:
    scorer = TurnScorer(model.estimator)
    conversations = [
        split_turns(t) for t in pd.read_csv(shared / "switchboard_swda.csv", dtype=str, keep_default_na=False)["text"]
    ]
    long_ones = [c[:turns] for c in conversations if len(c) >= turns][:calls]
    per_turn = np.zeros((len(long_ones), turns))
    rescore = np.zeros((len(long_ones), 2))
    for i, conversation in enumerate(long_ones):
        state = scorer.new_call()
        for k, turn in enumerate(conversation):
            started = time.perf_counter()
            scorer.add_turns([state], [turn])
            scorer.evidence(state)
            per_turn[i, k] = time.perf_counter() - started
        for j, k in enumerate((1, turns)):
            started = time.perf_counter()
            model.estimator.predict_proba(["\n".join(conversation[:k])])
            rescore[i, j] = time.perf_counter() - started
    first, last = np.median(per_turn[:, :10]) * 1e3, np.median(per_turn[:, -10:]) * 1e3
    print(f"### Per-turn latency ({len(long_ones)} Switchboard calls of {turns} turns, one turn at a time)\n")
    print("| method | turns 1-10, ms | turns 191-200, ms | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| incremental (+ evidence so far) | {first:.2f} | {last:.2f} | {last / first:.2f}x |")
    r1, r200 = np.median(rescore[:, 0]) * 1e3, np.median(rescore[:, 1]) * 1e3
    print(f"| rescoring the whole prefix | {r1:.2f} (turn 1) | {r200:.2f} (turn 200) | {r200 / r1:.2f}x |\n")


def early(shared: Path, sample: int, jobs: int) -> None:
    bundled = scamclf.training_frame(None)
    print("### Early detection, each corpus held out of training\n")
    print(
        "| corpus | calls | scam | median turns | alarm recall by turn "
        + " / ".join(map(str, SHOWN_TURNS))
        + " | alarm FPR by turn "
        + " / ".join(map(str, SHOWN_TURNS))
        + " | final recall | final FPR | median turns to alarm |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in MULTI_TURN:
        train = bundled[bundled["source"] != name]
        model = scamclf.train(train, n_jobs=jobs)
        calls = pd.read_csv(shared / f"{name}.csv", dtype=str, keep_default_na=False)
        calls = calls.sample(min(sample, len(calls)), random_state=0)
        y = (calls["label"] == "scam").to_numpy().astype(int)
        paths = TurnScorer(model.estimator).trajectories([split_turns(t) for t in calls["text"]])
        report = early_detection(y, paths, model.threshold, max_turns=500)

        final_recall = report["alarm_recall"][-1]
        final_fpr = report["alarm_false_positive_rate"][-1]
        print(
            f"| {name} | {len(calls)} | {int(y.sum())} | {report['median_turns_per_call']} | {_at(report, 'alarm_recall')} | "
            f"{_at(report, 'alarm_false_positive_rate')} | {'-' if final_recall is None else f'{final_recall:.3f}'} | "
            f"{'-' if final_fpr is None else f'{final_fpr:.3f}'} | {report['median_turns_to_alarm']} |",
            flush=True,
        )


def _at(report: dict, key: str) -> str:
    values = report[key]
    shown = [values[min(k, len(values)) - 1] for k in SHOWN_TURNS]
    return " / ".join("-" if v is None else f"{v:.2f}" for v in shown)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--calls", type=int, default=400, help="calls sampled per corpus for early detection")
    parser.add_argument("--model-path", type=Path, default=ROOT / "models" / "scamclf.joblib")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--skip-early", action="store_true", help="latency only")
    args = parser.parse_args()
    print(
        f"Turn-by-turn benchmark, {date.today()}, {platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs), "
        f"Python {platform.python_version()}, scamclf {scamclf.__version__}\n"
    )
    latency(scamclf.load(args.model_path), args.shared)
    if not args.skip_early:
        early(args.shared, args.calls, args.jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
