import json

import numpy as np

from scamclf.evaluate import binary_metrics, evaluation_report, format_table, reliability_curve, write_report


def test_binary_metrics_counts_and_rates():
    m = binary_metrics(np.array([1, 1, 0, 0]), np.array([0.9, 0.2, 0.7, 0.1]), 0.5)
    assert m["confusion"] == {"tn": 1, "fp": 1, "fn": 1, "tp": 1}
    assert m["recall"] == 0.5 and m["false_positive_rate"] == 0.5


def test_binary_metrics_on_one_class_leave_undefined_values_empty():
    m = binary_metrics(np.array([0, 0]), np.array([0.9, 0.1]), 0.5)
    assert m["recall"] is None and m["roc_auc"] is None and m["false_positive_rate"] == 0.5


def test_reliability_curve_bins_cover_all_rows():
    rows = sum(b["rows"] for b in reliability_curve(np.array([0, 1, 1, 0]), np.array([0.05, 0.95, 0.5, 0.5])))
    assert rows == 4


def test_write_report_writes_json_markdown_and_plots(tmp_path):
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.1, 0.6, 0.8, 0.9, 0.3, 0.2])
    report = evaluation_report(y, p, threshold=0.5, groups={"lang": np.array(["en", "en", "en", "ms", "ms", "ms"])})
    written = write_report(report, tmp_path, y, p)
    names = {path.name for path in written}
    assert {
        "report.json",
        "report.md",
        "pr_curve.png",
        "roc_curve.png",
        "reliability.png",
        "score_histogram.png",
    } <= names
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["overall"]["confusion"]["tp"] == 2
    assert set(data["by"]["lang"]["groups"]) == {"en", "ms"}
    assert "## By lang" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "pr_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_format_table_is_markdown():
    text = format_table({"a": binary_metrics(np.array([1, 0]), np.array([0.9, 0.1]), 0.5)})
    assert text.splitlines()[1].startswith("| -")
