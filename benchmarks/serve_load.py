"""Load on `scamclf serve`: requests/s and p50/p99 latency, single predictions and batches of 100.

Starts the server (a subprocess on a free loopback port), then sends a bounded load from this
process: a fixed number of requests from a few concurrent clients. Transcripts are sampled from
../shared/data call corpora.

    pip install -e .[serve,bench]
    python benchmarks/serve_load.py [--requests 400] [--concurrency 4] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("robocall_ftc", "teleantifraud_ma", "sgd_banks", "multidogo_custside")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(base: str, bodies: list[dict], path: str, concurrency: int) -> tuple[float, np.ndarray]:
    def one(body: dict) -> float:
        started = time.perf_counter()
        response = client.post(f"{base}{path}", json=body)
        response.raise_for_status()
        return time.perf_counter() - started

    with httpx.Client(timeout=120) as client, ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        latencies = np.array(list(pool.map(one, bodies)))
        return time.perf_counter() - started, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--model-path", type=Path, default=ROOT / "models" / "scamclf.joblib")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    texts = pd.concat(
        [pd.read_csv(args.shared / f"{s}.csv", dtype=str, keep_default_na=False)["text"] for s in SOURCES]
    ).sample(frac=1, random_state=0)
    texts = texts.str.slice(0, 3000).tolist()
    port = free_port()
    exe = str(Path(sys.executable).with_name("scamclf"))
    server = subprocess.Popen(
        [exe, "serve", "--model-path", str(args.model_path), "--port", str(port), "--workers", str(args.workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        load(base, [{"text": t} for t in texts[:20]], "/predict", 2)  # warm up
        singles = [{"text": texts[i % len(texts)]} for i in range(args.requests)]
        batches = [{"texts": texts[i * 100 : (i + 1) * 100]} for i in range(args.batches)]
        rows = []
        for name, bodies, path, per in (
            ("POST /predict, 1 transcript", singles, "/predict", 1),
            ("POST /score, 100 transcripts", batches, "/score", 100),
        ):
            seconds, latencies = load(base, bodies, path, args.concurrency)
            rows.append((name, len(bodies), len(bodies) / seconds, len(bodies) * per / seconds, latencies))
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"Serve load, {date.today()}, {platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs), "
        f"Python {platform.python_version()}; server --workers {args.workers}, {args.concurrency} concurrent "
        f"clients in another process, loopback\n"
    )
    print("| request | requests | requests/s | transcripts/s | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, n, rps, tps, latencies in rows:
        p50, p99 = np.percentile(latencies * 1e3, [50, 99])
        print(f"| {name} | {n} | {rps:,.1f} | {tps:,.0f} | {p50:.1f} | {p99:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
