"""Peak memory of ``scamclf score`` on a 2 GB CSV against a 200 MB one: flat, not proportional.

Generates both inputs from call transcripts sampled out of ../shared/data (in the work
directory, never committed), scores each with the CLI as a user runs it, and reports the peak
memory of the whole process tree (RSS and PSS summed over the parent and its workers).

    pip install -e .[bench]
    python benchmarks/memory.py [--model-path models/scamclf.joblib] [--jobs 0] [--big-mb 2000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from throughput import build_input, command, run_measured  # noqa: E402

BYTES_PER_ROW = 930  # the call-transcript sample averages about this much CSV per row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--model-path", type=Path, default=ROOT / "models" / "scamclf.joblib")
    parser.add_argument("--jobs", type=int, default=0, help="scamclf score --jobs (0: all CPUs)")
    parser.add_argument("--small-mb", type=int, default=200)
    parser.add_argument("--big-mb", type=int, default=2000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/scamclf-memory"))
    args = parser.parse_args()
    if not args.model_path.exists():
        parser.error(f"{args.model_path}: no model; run `scamclf train` first (README, quick start)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for target_mb in (args.small_mb, args.big_mb):
        src = args.workdir / f"calls_{target_mb}mb.csv"
        rows, megabytes = build_input(args.shared, target_mb * 1_000_000 // BYTES_PER_ROW, src)
        print(f"# {src}: {rows} rows, {megabytes:.0f} MB", file=sys.stderr, flush=True)
        wall, rss, pss = run_measured(command("scamclf", args.model_path, src, args.workdir / "out.csv", args.jobs))
        print(f"# scored in {wall:.0f} s: peak RSS {rss:.0f} MB, PSS {pss:.0f} MB", file=sys.stderr, flush=True)
        results.append((rows, megabytes, wall, rss, pss))
        src.unlink()
        (args.workdir / "out.csv").unlink()
    print(
        f"Memory benchmark, {date.today()}, {platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs), "
        f"Python {platform.python_version()}; scamclf score --jobs {args.jobs or 'all'} (with evidence)\n"
    )
    print("| input | rows | seconds | transcripts/s | peak RSS, MB (tree) | peak PSS, MB (tree) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for rows, megabytes, wall, rss, pss in results:
        print(f"| {megabytes:.0f} MB | {rows} | {wall:.0f} | {rows / wall:,.0f} | {rss:.0f} | {pss:.0f} |")
    (_, _, _, rss_small, pss_small), (_, _, _, rss_big, pss_big) = results
    print(f"\nBig / small: RSS {rss_big / rss_small:.2f}x, PSS {pss_big / pss_small:.2f}x (floor: within 1.2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
