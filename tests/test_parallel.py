"""score --jobs: worker processes give exactly the output of one process, in input order."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from scamclf import parallel
from scamclf.api import score_file


@pytest.fixture(scope="module")
def multi_chunk_input(tmp_path_factory, corpus):
    """2,600 calls: three chunks of 1,000 rows, so work really goes to several workers."""
    texts = corpus["text"].tolist()
    rows = pd.DataFrame(
        {"id": range(2600), "text": [f"{texts[i % len(texts)]} case {i}" for i in range(2600)], "extra": "x"}
    )
    path = tmp_path_factory.mktemp("parallel") / "calls.csv"
    rows.to_csv(path, index=False)
    return path


def test_console_script_jobs_2_writes_the_same_bytes_as_jobs_1(scamclf_exe, model_path, multi_chunk_input, tmp_path):
    outputs = []
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}.csv"
        args = ["score", multi_chunk_input, "--model-path", model_path, "--output-path", out, "--jobs", jobs]
        run = subprocess.run(
            [scamclf_exe, *map(str, args)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        assert "Scored 2600 rows" in run.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    scored = pd.read_csv(tmp_path / "jobs2.csv")
    assert scored["id"].tolist() == list(range(2600))  # input order kept


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_library_jobs_match_one_process(fitted, multi_chunk_input, tmp_path, monkeypatch, start_method):
    import multiprocessing

    if start_method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {start_method} here")
    monkeypatch.setattr(parallel, "_context", lambda: multiprocessing.get_context(start_method))
    one = score_file(fitted, multi_chunk_input, tmp_path / "one.jsonl", jobs=1)
    two = score_file(fitted, multi_chunk_input, tmp_path / "two.jsonl", jobs=2, chunksize=700)
    assert one == two
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()


def test_a_single_chunk_is_scored_without_workers(fitted, corpus_path, tmp_path, monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("workers started for one chunk")

    monkeypatch.setattr("scamclf.api.ordered_map", no_pool)
    assert score_file(fitted, corpus_path, tmp_path / "out.csv", jobs=4)["rows"] == 24


def test_resolve_jobs():
    assert parallel.resolve_jobs(None) == parallel.resolve_jobs(0) == parallel.available_cpus() >= 1
    assert parallel.resolve_jobs(3) == 3
    with pytest.raises(ValueError, match="jobs"):
        parallel.resolve_jobs(-1)


def test_cli_refuses_negative_jobs(model_path, corpus_path):
    from typer.testing import CliRunner

    from scamclf.cli import app

    result = CliRunner().invoke(app, ["score", str(corpus_path), "--model-path", str(model_path), "--jobs", "-1"])
    assert result.exit_code == 2


class _DiesOnChunkTwo:
    """A stand-in model whose worker is killed on one chunk, as the out-of-memory killer would."""

    def score_texts(self, texts, **options):
        import os
        import signal

        if texts and texts[0] == "chunk 2":
            os.kill(os.getpid(), signal.SIGKILL)
        return pd.DataFrame({"n": [len(texts)]})


def _score_texts(model, texts, options):
    return model.score_texts(texts, **options)


def test_a_killed_worker_is_an_error_not_a_hang():
    if "fork" not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip("needs fork")
    items = ((i, [f"chunk {i}"]) for i in range(6))
    with pytest.raises(parallel.WorkerDied, match="worker process died"):
        list(parallel.ordered_map(_DiesOnChunkTwo(), items, 2, _score_texts, {}))


def test_a_pool_broken_before_a_chunk_is_queued_is_the_same_error(monkeypatch):
    # The race the test above can hit: the worker dies before the parent queues the next chunk,
    # so submit() itself finds the pool broken.
    from concurrent.futures.process import BrokenProcessPool

    class _BrokenPool:
        def __init__(self, *args, **kwargs):
            pass

        def submit(self, *args, **kwargs):
            raise BrokenProcessPool("A child process terminated abruptly")

        def shutdown(self, wait=True, cancel_futures=False):
            pass

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", _BrokenPool)
    with pytest.raises(parallel.WorkerDied, match="worker process died"):
        list(parallel.ordered_map(object(), [(0, ["chunk 0"])], 2, _score_texts, {}))


def test_parquet_output_with_workers_matches_one_process(fitted, multi_chunk_input, tmp_path):
    # Text formats are rendered in the workers; Parquet goes back to the parent as frames.
    one = score_file(fitted, multi_chunk_input, tmp_path / "one.parquet", jobs=1)
    two = score_file(fitted, multi_chunk_input, tmp_path / "two.parquet", jobs=2)
    assert one == two and one["rows"] == 2600
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "one.parquet"), pd.read_parquet(tmp_path / "two.parquet"))
