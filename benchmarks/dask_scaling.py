"""Dask engine scaling: throughput with 1 and 2 workers against the local engine, same input.

Writes the input as N CSV files of call transcripts sampled from ../shared/data, then times
``scamclf score`` end to end (as a user runs it): the local engine with --jobs 1 and --jobs 2,
and --engine dask on a local cluster of 1 and 2 worker processes (the cluster is started
inside the timed run, as the CLI does). Prints a table and a projection to 10 and 100 workers
from the measured per-worker rate and fixed overhead.

    pip install -e .[dask,bench]
    python benchmarks/dask_scaling.py [--rows 40000] [--files 8]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from throughput import build_input  # noqa: E402

WORKERS_SCRIPT = """
import sys, warnings
warnings.simplefilter("ignore")
import scamclf
from scamclf.dask_engine import score_files_dask
if __name__ == "__main__":
    model = scamclf.load(sys.argv[1])
    score_files_dask(model, sys.argv[2], sys.argv[3], n_workers=int(sys.argv[4]), force=True)
"""


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--model-path", type=Path, default=ROOT / "models" / "scamclf.joblib")
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/scamclf-dask"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    whole = args.workdir / "calls.csv"
    rows, megabytes = build_input(args.shared, args.rows, whole)
    parts = args.workdir / "parts"
    parts.mkdir(exist_ok=True)
    frame = pd.read_csv(whole, dtype=str, keep_default_na=False)
    step = -(-rows // args.files)
    for i in range(args.files):
        frame.iloc[i * step : (i + 1) * step].to_csv(parts / f"part{i:03d}.csv", index=False)
    exe = str(Path(sys.executable).with_name("scamclf"))
    script = args.workdir / "dask_run.py"
    script.write_text(WORKERS_SCRIPT)
    runs = {}
    for jobs in (1, 2):
        runs[f"local engine, --jobs {jobs}"] = timed(
            [exe, "score", str(whole), "--model-path", str(args.model_path), "--output-path",
             str(args.workdir / "local.csv"), "--force", "--jobs", str(jobs)]
        )  # fmt: skip
    for workers in (1, 2):
        runs[f"dask engine, {workers} worker(s)"] = timed(
            [sys.executable, str(script), str(args.model_path), str(parts), str(args.workdir / "out"), str(workers)]
        )
    print(
        f"Dask scaling, {date.today()}, {platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs), "
        f"Python {platform.python_version()}; {rows} call transcripts, {megabytes:.0f} MB, {args.files} CSV files\n"
    )
    print("| run | seconds | transcripts/s | vs local --jobs 1 |")
    print("| --- | --- | --- | --- |")
    base = runs["local engine, --jobs 1"]
    for name, seconds in runs.items():
        print(f"| {name} | {seconds:.1f} | {rows / seconds:,.0f} | {base / seconds:.2f}x |")
    one, two = runs["dask engine, 1 worker(s)"], runs["dask engine, 2 worker(s)"]
    # t(w) = overhead + rows / (w * rate): two measurements give both.
    per_worker = rows * (1 - 0.5) / (one - two) if one > two else float("nan")
    overhead = one - rows / per_worker if per_worker == per_worker else float("nan")
    print(
        f"\nFitted from the two Dask runs: fixed overhead {overhead:.1f} s (cluster start, model broadcast, "
        f"writing), {per_worker:,.0f} transcripts/s per worker."
    )
    for workers in (10, 100):
        print(
            f"- {workers} workers: about {per_worker * workers:,.0f} transcripts/s once running; "
            f"{10**8 / (per_worker * workers) / 3600:.1f} h for 100 million calls (plus {overhead:.0f} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
