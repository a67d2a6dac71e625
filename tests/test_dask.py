"""The Dask engine: the same rows and probabilities as the local engine, on a real LocalCluster."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from scamclf.api import score_file  # noqa: E402
from scamclf.dask_engine import LOCAL_DASHBOARD_ADDRESS, expand_inputs, score_dask_frame, score_files_dask  # noqa: E402
from scamclf.errors import DataError, OutputExistsError  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=LOCAL_DASHBOARD_ADDRESS,
        silence_logs=logging.ERROR,
    ) as running:
        yield running


def test_a_cluster_the_engine_starts_serves_its_dashboard_on_loopback_only(cluster):
    # The same address the engine passes: no socket on another interface, and no fixed port to clash on.
    sockets = [sock.getsockname()[0] for sock in cluster.scheduler.http_server._sockets.values()]
    assert sockets and all(host == "127.0.0.1" for host in sockets)
    assert cluster.scheduler.http_server.port != 8787


@pytest.fixture(scope="module")
def calls(corpus) -> pd.DataFrame:
    texts = corpus["text"].tolist()
    return pd.DataFrame(
        {"id": [str(i) for i in range(90)], "text": [f"{texts[i % len(texts)]}\nB: case {i}" for i in range(90)]}
    )


def _local(fitted, frame: pd.DataFrame, tmp_path) -> pd.DataFrame:
    src = tmp_path / "all.csv"
    frame.to_csv(src, index=False)
    score_file(fitted, src, tmp_path / "local.parquet", jobs=1)
    return pd.read_parquet(tmp_path / "local.parquet")


def test_dask_engine_equals_local_engine_on_csv_files(fitted, calls, cluster, tmp_path):
    calls = calls.copy()
    calls.loc[40, "text"] = "여보세요 검찰청 수사관입니다 고객님 계좌가"  # writing the model never saw: noted, counted
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        calls.iloc[i * 30 : (i + 1) * 30].to_csv(folder / f"part{i}.csv", index=False)
    summary = score_files_dask(fitted, folder, tmp_path / "out", scheduler=cluster.scheduler_address)
    assert summary["rows"] == 90 and summary["partitions"] == 3 and summary["unfamiliar"] == 1
    got = pd.read_parquet(tmp_path / "out")
    pd.testing.assert_frame_equal(got, _local(fitted, calls, tmp_path))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]


def test_dask_engine_equals_local_engine_on_parquet_row_groups(fitted, calls, cluster, tmp_path):
    src = tmp_path / "calls.parquet"
    calls.to_parquet(src, row_group_size=25)
    summary = score_files_dask(fitted, src, tmp_path / "out", scheduler=cluster.scheduler_address)
    assert summary["partitions"] >= 2
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out"), _local(fitted, calls, tmp_path))


def test_cli_engine_dask(model_path, calls, cluster, tmp_path):
    from typer.testing import CliRunner

    from scamclf.cli import app

    src = tmp_path / "calls.csv"
    calls = calls.copy()
    calls.loc[[3, 70], "text"] = "வணக்கம் நான் போலீஸ் அதிகாரி"
    calls.to_csv(src, index=False)
    out = tmp_path / "scored"
    args = ["score", str(src), "--model-path", str(model_path), "--engine", "dask"]
    args += ["--scheduler", cluster.scheduler_address, "--output-path", str(out), "--output-format", "csv"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Scored 90 rows in 1 partitions" in result.output
    assert "2 rows are written largely in a script the model never saw" in result.output
    scored = pd.read_csv(out / "part-00000.csv", dtype=str, keep_default_na=False)
    assert scored["id"].tolist() == calls["id"].tolist()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1 and "pass --force" in again.output


def test_a_bad_file_is_one_line_naming_it_and_leaves_nothing(fitted, calls, cluster, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    calls.to_csv(folder / "a.csv", index=False)
    (folder / "b.csv").write_text('id,text\n1,"fine"\n2,"too",many,fields\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"b\.csv: malformed CSV: line 3"):
        score_files_dask(fitted, folder, tmp_path / "out", scheduler=cluster.scheduler_address)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no output, no staging directory


def test_existing_output_is_kept_unless_forced(fitted, calls, cluster, tmp_path):
    src = tmp_path / "calls.csv"
    calls.to_csv(src, index=False)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(OutputExistsError):
        score_files_dask(fitted, src, tmp_path / "out", scheduler=cluster.scheduler_address)
    score_files_dask(fitted, src, tmp_path / "out", scheduler=cluster.scheduler_address, force=True)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["part-00000.parquet"]


def test_library_scores_a_dask_dataframe(fitted, calls):
    import dask
    import dask.dataframe as dd

    with dask.config.set({"dataframe.convert-string": False, "scheduler": "synchronous"}):
        frame = dd.from_pandas(calls, npartitions=4)
        got = score_dask_frame(fitted, frame).compute()
    pd.testing.assert_frame_equal(got, fitted.score_frame(calls))


def test_expand_inputs(tmp_path):
    (tmp_path / "a.csv").write_text("text\nx\n")
    (tmp_path / "b.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "notes.txt").write_text("not a table")
    assert [p.split("/")[-1] for p in expand_inputs(tmp_path)] == ["a.csv", "b.jsonl"]
    assert expand_inputs(tmp_path / "*.csv") == [str(tmp_path / "a.csv")]
    with pytest.raises(DataError, match="no such file"):
        expand_inputs(tmp_path / "nothing*.parquet")


def test_an_unreachable_scheduler_is_one_line_and_config_is_restored(fitted, calls, tmp_path):
    import dask

    src = tmp_path / "calls.csv"
    calls.to_csv(src, index=False)
    before = dask.config.get("dataframe.convert-string", None)
    with pytest.raises(DataError, match="cannot reach the Dask scheduler"):
        score_files_dask(fitted, src, tmp_path / "out", scheduler="tcp://127.0.0.1:9")
    assert dask.config.get("dataframe.convert-string", None) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.csv"]


def test_parquet_with_timestamps_and_categories(fitted, calls, cluster, tmp_path):
    frame = calls.assign(
        at=pd.date_range("2026-11-01", periods=len(calls), freq="h", tz="UTC"),
        channel=pd.Categorical(["ivr", "agent", "agent"] * (len(calls) // 3)),
    )
    src = tmp_path / "calls.parquet"
    frame.to_parquet(src, row_group_size=40)
    score_files_dask(fitted, src, tmp_path / "out", scheduler=cluster.scheduler_address)
    got = pd.read_parquet(tmp_path / "out")
    assert len(got) == len(calls) and str(got["at"].dtype).startswith("datetime64")
    local = tmp_path / "local.parquet"
    score_file(fitted, src, local, jobs=1)
    assert got["scam_probability"].tolist() == pd.read_parquet(local)["scam_probability"].tolist()
