import io
import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from scamclf.cli import app

runner = CliRunner()


def _invoke(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def test_every_command_has_help():
    for command in ("train", "score", "predict", "info", "verify", "evaluate"):
        result = _invoke(command, "--help")
        assert result.exit_code == 0, command
        assert "Usage" in result.output


def test_version():
    import scamclf

    assert _invoke("--version").output.strip() == f"scamclf {scamclf.__version__}"


def test_train_writes_model_and_metrics_and_refuses_overwrite(corpus_path, tmp_path):
    target = tmp_path / "m.joblib"
    result = _invoke("train", corpus_path, "--model-path", target)
    assert result.exit_code == 0, result.output
    assert "Held out by source" in result.output and str(target) in result.output
    metrics = json.loads((tmp_path / "m.metrics.json").read_text())
    assert "leave_one_source_out" in metrics["metrics"]
    again = _invoke("train", corpus_path, "--model-path", target)
    assert again.exit_code == 1 and "--force" in again.output
    assert _invoke("train", corpus_path, "--model-path", target, "--force").exit_code == 0


def test_training_summary_reports_the_mean_of_several_assignments(tmp_path, capsys):
    from scamclf.cli import _print_training_summary

    by_source = {"a": {"rows": 2, "scam": 1, "legit": 1, "recall": 0.5, "false_positive_rate": 0.0, "f1": 0.6667}}
    loso = {"by_source": by_source, "macro_f1": 0.6, "assignments": 3, "macro_f1_by_assignment": [0.5, None, 0.7]}
    meta = {"rows": 2, "class_counts": {"scam": 1, "legit": 1}, "threshold": 0.5, "suspicious_threshold": 0.25}
    _print_training_summary({**meta, "metrics": {"leave_one_source_out": loso}}, tmp_path / "m", tmp_path / "j")
    out = capsys.readouterr().out
    assert "the mean of 3 assignments of sources to folds" in out
    assert "Macro F1 over held-out sources with both classes: 0.6 (per assignment: 0.5, -, 0.7)" in out
    # One assignment (or a report written before 0.32.0): the lines as they were.
    _print_training_summary(
        {**meta, "metrics": {"leave_one_source_out": {"by_source": by_source, "macro_f1": 0.6}}},
        tmp_path / "m",
        tmp_path / "j",
    )
    out = capsys.readouterr().out
    assert "assignments" not in out and out.count("Macro F1 over held-out sources with both classes: 0.6\n") == 1


def test_train_tol_reaches_the_model_and_its_metadata(corpus_path, tmp_path):
    import scamclf
    from scamclf.config import FIT_TOL

    target = tmp_path / "loose.joblib"
    result = _invoke("train", corpus_path, "--model-path", target, "--tol", "1e-4")
    assert result.exit_code == 0, result.output
    model = scamclf.load(target)
    assert model.estimator.tol == 1e-4 and model.metadata["tol"] == 1e-4
    assert scamclf.train([corpus_path], random_split=False).metadata["tol"] == FIT_TOL == 1e-6
    for bad in ("0", "0.5", "-1e-6", "nan", "fast"):
        outcome = _invoke("train", corpus_path, "--model-path", tmp_path / "x.joblib", "--tol", bad)
        assert outcome.exit_code == 2, (bad, outcome.output)
    assert not (tmp_path / "x.joblib").exists()


def test_train_source_offset_reaches_the_model_and_its_metadata(corpus_path, tmp_path):
    import scamclf

    target = tmp_path / "offset.joblib"
    result = _invoke("train", corpus_path, "--model-path", target, "--source-offset", "0.3")
    assert result.exit_code == 0, result.output
    model = scamclf.load(target)
    assert model.estimator.source_offset == 0.3 and model.metadata["source_offset"] == 0.3
    # The per-source columns are gone from the saved model: it scores the features alone.
    assert model.estimator.linear_.coef_.shape[1] == model.estimator.transform_features(["hello"]).shape[1]
    assert scamclf.train([corpus_path], random_split=False).metadata["source_offset"] == 0.0
    for bad in ("-0.1", "nan", "much"):
        outcome = _invoke("train", corpus_path, "--model-path", tmp_path / "x.joblib", "--source-offset", bad)
        assert outcome.exit_code == 2, (bad, outcome.output)
    # One source: nothing for the intercepts to tell apart; a one-line error, no model.
    one = tmp_path / "one.csv"
    pd.read_csv(corpus_path).drop(columns="source").to_csv(one, index=False)
    outcome = _invoke("train", one, "--model-path", tmp_path / "x.joblib", "--source-offset", "0.3")
    assert outcome.exit_code == 1 and "at least two sources" in outcome.output and "'one'" in outcome.output
    assert "Traceback" not in outcome.output
    assert not (tmp_path / "x.joblib").exists()


def test_train_threshold_smoothing_reaches_the_model(corpus_path, tmp_path):
    import scamclf
    from scamclf.config import THRESHOLD_SMOOTHING

    target = tmp_path / "raw.joblib"
    result = _invoke("train", corpus_path, "--model-path", target, "--threshold-smoothing", "0")
    assert result.exit_code == 0, result.output
    model = scamclf.load(target)
    assert model.metadata["threshold_smoothing"] == 0 and model.estimator.threshold_smoothing == 0
    default = _invoke("train", corpus_path, "--model-path", tmp_path / "default.joblib")
    assert default.exit_code == 0, default.output
    loaded = scamclf.load(tmp_path / "default.joblib")
    assert loaded.metadata["threshold_smoothing"] == THRESHOLD_SMOOTHING
    assert (
        _invoke("train", corpus_path, "--model-path", tmp_path / "x.joblib", "--threshold-smoothing", "0.9").exit_code
        == 2
    )


def test_train_reports_unknown_labels(tmp_path, corpus):
    corpus.assign(label="perhaps").to_csv(tmp_path / "d.csv", index=False)
    result = _invoke("train", tmp_path / "d.csv", "--model-path", tmp_path / "m.joblib")
    assert result.exit_code == 1
    assert "unknown label values 'perhaps'" in result.output
    assert "Traceback" not in result.output


def test_score_to_stdout_adds_columns(model_path, corpus_path):
    result = _invoke("score", corpus_path, "--model-path", model_path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("scam_probability,is_scam,verdict,scam_type,evidence,note")
    assert len(pd.read_csv(corpus_path)) == 24


def test_score_evidence_option_picks_the_rows_explained(model_path, corpus_path):
    def scored(*args):
        result = _invoke("score", corpus_path, "--model-path", model_path, *args)
        assert result.exit_code == 0, result.output
        return pd.read_csv(io.StringIO(result.stdout), keep_default_na=False)

    flagged, every = scored(), scored("--evidence", "all")
    legit = flagged["verdict"] == "legit"
    assert (flagged.loc[legit, "evidence"] == "").all() and (flagged.loc[~legit, "evidence"] != "").all()
    assert (every.loc[legit, "evidence"] != "").any()
    assert "evidence" not in scored("--evidence", "none").columns
    assert "evidence" not in scored("--no-evidence").columns
    bad = _invoke("score", corpus_path, "--model-path", model_path, "--evidence", "some")
    assert bad.exit_code == 2 and "flagged" in bad.output


def test_score_refuses_to_clobber_output(model_path, corpus_path, tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("keep me")
    result = _invoke("score", corpus_path, "--model-path", model_path, "--output-path", out)
    assert result.exit_code == 1 and "--force" in result.output
    assert out.read_text() == "keep me"
    assert _invoke("score", corpus_path, "--model-path", model_path, "--output-path", out, "--force").exit_code == 0
    assert len(pd.read_csv(out)) == 24


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv"], "no such file"),
        (["{corpus}", "--text-col", "txt"], "did you mean --text-col text"),
        (["{corpus}", "--output-path", "out.xml"], "cannot tell the format"),
    ],
)
def test_score_errors_are_one_line(model_path, corpus_path, args, message):
    args = [a.replace("{corpus}", str(corpus_path)) for a in args]
    result = _invoke("score", *args, "--model-path", model_path)
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.strip().count("\n") == 0


def test_usage_errors_exit_2(model_path, corpus_path):
    assert _invoke("score", corpus_path, "--threshold", "2").exit_code == 2
    assert _invoke("score", corpus_path, "--no-such-option").exit_code == 2


def test_predict_json_and_text(model_path):
    text = "this is bukit aman transfer your savings to a safe account"
    result = _invoke("predict", text, "--model-path", model_path, "--json")
    data = json.loads(result.stdout)
    assert data["verdict"] == "scam" and data["evidence"]
    human = _invoke("predict", "--model-path", model_path, input=text)
    assert human.exit_code == 0 and human.stdout.startswith("SCAM") and "Note:" not in human.stdout
    tamil = _invoke("predict", "--model-path", model_path, input="வணக்கம் நான் போலீஸ் அதிகாரி")
    assert tamil.exit_code == 0 and "Note: unfamiliar writing: 100% of the letters are Tamil" in tamil.stdout


def test_info_and_verify(model_path, model_copy):
    info = _invoke("info", "--model-path", model_path)
    assert info.exit_code == 0 and "verified" in info.output
    assert _invoke("verify", "--model-path", model_path).exit_code == 0
    data = bytearray(model_copy.read_bytes())
    data[-10] ^= 1
    model_copy.write_bytes(bytes(data))
    assert _invoke("verify", "--model-path", model_copy).exit_code == 1
    bad = _invoke("info", "--model-path", model_copy)
    assert bad.exit_code == 1 and "NOT VERIFIED" in bad.output


def test_evaluate_writes_report(model_path, corpus_path, tmp_path):
    result = _invoke(
        "evaluate", corpus_path, "--model-path", model_path, "--group-col", "source", "--report-dir", tmp_path / "r"
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.json").exists() and (tmp_path / "r" / "score_histogram.png").exists()
    assert "## By transcript length" in (tmp_path / "r" / "report.md").read_text()


def test_evaluate_prints_the_length_table_when_lengths_differ(model_path, corpus, tmp_path):
    frame = corpus[["text", "label"]].copy()
    frame.loc[len(frame)] = [" ".join(["hello this is a long ordinary call about dinner"] * 40), "legit"]
    path = tmp_path / "mixed_lengths.csv"
    frame.to_csv(path, index=False)
    result = _invoke("evaluate", path, "--model-path", model_path)
    assert result.exit_code == 0, result.output
    assert "By transcript length" in result.output and "1000-2999 chars" in result.output


def test_console_script_scores_a_file_in_a_real_process(scamclf_exe, model_path, corpus_path, tmp_path):
    out = tmp_path / "scored.parquet"
    run = subprocess.run(
        [scamclf_exe, "score", str(corpus_path), "--model-path", str(model_path), "--output-path", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "Scored 24 rows" in run.stderr
    assert len(pd.read_parquet(out)) == 24
    bad = subprocess.run(
        [scamclf_exe, "score", str(tmp_path / "nope.csv"), "--model-path", str(model_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("Error: ") and "Traceback" not in bad.stderr


def test_python_dash_m_runs_the_cli(model_path):
    run = subprocess.run(
        [sys.executable, "-m", "scamclf", "verify", "--model-path", str(model_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("OK")
