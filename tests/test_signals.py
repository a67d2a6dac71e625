"""Interrupted and concurrent runs of the real console script: nothing partial, nothing stray."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import pandas as pd
import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
STOP_WITHIN_S = 10.0


def _default_sigint() -> None:
    # A test runner started in the background ignores SIGINT, and children inherit that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(exe: str, *args: object, cwd: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "SCAMCLF_MODEL"}
    env["XDG_DATA_HOME"] = str(cwd / "xdg")
    return subprocess.Popen(
        [exe, *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_default_sigint,
        # Its own process group, so that a test that gives up can kill everything it started.
        start_new_session=True,
    )


def _give_up(process: subprocess.Popen[bytes], message: str, partial: bytes | None = None) -> NoReturn:
    """Kill the process and everything it started, close its pipes, and fail with ``message``.

    Never waits on the pipes: a stray child holding them open would turn a failure into a hang.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # its own group (``_start``): workers included
    try:
        process.wait(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        message += " (and it did not die on SIGKILL)"
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()
    tail = (partial or b"").decode("utf-8", "replace").strip().splitlines()[-3:]
    pytest.fail(message + (f"; last stderr: {' | '.join(tail)}" if tail else ""))


def _stop(process: subprocess.Popen[bytes], signum: int) -> tuple[float, str]:
    """Send ``signum``; return the seconds until the process exited and closed its pipes, and its stderr."""
    sent = time.monotonic()
    process.send_signal(signum)
    try:
        _, stderr = process.communicate(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired as timeout:
        # Either the process still runs, or it exited while something it started holds its pipes open.
        name = signal.Signals(signum).name
        if process.poll() is None:
            reason = f"still running {STOP_WITHIN_S} s after {name}"
        else:
            reason = f"exited after {name}, but its pipes stayed open {STOP_WITHIN_S} s: a child outlived it"
        _give_up(process, reason, timeout.stderr)
    return time.monotonic() - sent, stderr.decode("utf-8", "replace")


def _first_stderr_line(process: subprocess.Popen[bytes], timeout: float = 120.0) -> bytes:
    """The first line the process writes to stderr, or a failure (not a hang) if none comes in ``timeout`` s."""
    assert process.stderr is not None
    ready, _, _ = select.select([process.stderr], [], [], timeout)
    if not ready:
        _give_up(process, f"wrote nothing to stderr in {timeout} s")
    return process.stderr.readline()


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def large_input(tmp_path_factory, corpus) -> Path:
    """200,000 calls (25 MB): minutes of scoring, far longer than any of these tests waits."""
    texts = corpus["text"].tolist()
    path = tmp_path_factory.mktemp("large") / "calls.csv"
    pd.DataFrame({"id": range(200_000), "text": [f"{texts[i % len(texts)]} ref {i}" for i in range(200_000)]}).to_csv(
        path, index=False
    )
    return path


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_score_stops_promptly_and_leaves_nothing(scamclf_exe, model_path, large_input, tmp_path, signum):
    out = tmp_path / "scored.csv"
    process = _start(scamclf_exe, "score", large_input, "--model-path", model_path, "--output-path", out, cwd=tmp_path)
    # Stop it mid-file: once the first chunk is in the temporary file.
    _wait_for(lambda: any(p.stat().st_size > 0 for p in tmp_path.glob(".scored.csv.*.tmp")), "the first scored rows")
    latency, stderr = _stop(process, signum)
    print(f"score stopped {latency:.3f} s after {signal.Signals(signum).name}")
    assert process.returncode == EXIT_STATUS[signum], stderr
    assert stderr.strip().splitlines()[-1].endswith("nothing was written.")
    assert "Traceback" not in stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".*.tmp"))
    _wait_for(lambda: not _processes_mentioning(str(out)), "the worker processes to exit", timeout=5.0)


def _processes_mentioning(text: str) -> list[int]:
    """Processes whose command line contains ``text`` (workers share their parent's)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_train_stops_promptly_and_leaves_nothing(scamclf_exe, corpus, tmp_path, signum):
    # 40,000 rows: about 10 s of fitting, so the signal lands inside the solver's loops.
    rows = pd.concat([corpus] * 1700, ignore_index=True).head(40_000)
    rows["text"] = rows["text"] + " case " + rows.index.astype(str)
    rows.to_csv(tmp_path / "train.csv", index=False)
    target = tmp_path / "model.joblib"
    process = _start(scamclf_exe, "train", "train.csv", "--model-path", target, cwd=tmp_path)
    assert _first_stderr_line(process).startswith(b"Training on")
    time.sleep(1.0)
    latency, stderr = _stop(process, signum)
    print(f"train stopped {latency:.3f} s after {signal.Signals(signum).name}")
    assert process.returncode == EXIT_STATUS[signum], stderr
    assert "Traceback" not in stderr
    assert not target.exists() and not target.with_suffix(".metrics.json").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_two_score_runs_at_once_do_not_interfere(scamclf_exe, model_path, corpus_path, tmp_path):
    runs = [
        _start(
            scamclf_exe, "score", corpus_path, "--model-path", model_path, "--output-path", f"out{i}.csv", cwd=tmp_path
        )
        for i in (1, 2)
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
    first, second = (pd.read_csv(tmp_path / f"out{i}.csv", dtype=str, keep_default_na=False) for i in (1, 2))
    assert len(first) == 24
    pd.testing.assert_frame_equal(first, second)
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("force", [False, True], ids=["no-force", "force"])
def test_two_train_runs_to_one_path_leave_one_verifiable_model(scamclf_exe, corpus_path, tmp_path, force):
    target = tmp_path / "shared.joblib"
    extra = ["--force"] if force else []
    runs = [_start(scamclf_exe, "train", corpus_path, "--model-path", target, *extra, cwd=tmp_path) for _ in range(2)]
    results = []
    for run in runs:
        _, stderr = run.communicate(timeout=120)
        results.append((run.returncode, stderr.decode()))
    codes = sorted(code for code, _ in results)
    if force:
        assert codes == [0, 0], results
    else:
        # The hard-link commit refuses a target that appeared meanwhile: one wins, one says so.
        assert codes == [0, 1], results
        loser = next(err for code, err in results if code == 1)
        assert loser.strip().splitlines()[-1] == f"Error: {target}: model file exists; pass --force to replace it"
    verify = subprocess.run(
        [scamclf_exe, "verify", "--model-path", str(target)], capture_output=True, text=True, timeout=120
    )
    assert verify.returncode == 0, verify.stderr
    assert target.with_suffix(".metrics.json").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_workers_do_not_outlive_a_killed_parent(scamclf_exe, model_path, large_input, tmp_path):
    """SIGKILL leaves no chance to shut the pool down: the workers must still go (Linux)."""
    if sys.platform != "linux":
        pytest.skip("the kernel's parent-death signal is Linux-only")
    out = tmp_path / "scored.csv"
    process = _start(
        scamclf_exe, "score", large_input, "--model-path", model_path, "--output-path", out, "--jobs", "2", cwd=tmp_path
    )
    _wait_for(lambda: any(p.stat().st_size > 0 for p in tmp_path.glob(".scored.csv.*.tmp")), "the first scored rows")
    process.kill()
    process.wait(timeout=STOP_WITHIN_S)
    _wait_for(lambda: not _processes_mentioning(str(out)), "the orphaned workers to exit", timeout=5.0)
    process.communicate(timeout=STOP_WITHIN_S)  # the pipes close once no worker holds them
