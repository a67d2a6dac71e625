import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scamclf.evaluate import (
    binary_metrics,
    evaluation_report,
    format_table,
    length_bands,
    mean_binary_metrics,
    mean_metrics_by_group,
    reliability_curve,
    write_report,
)


def test_binary_metrics_counts_and_rates():
    m = binary_metrics(np.array([1, 1, 0, 0]), np.array([0.9, 0.2, 0.7, 0.1]), 0.5)
    assert m["confusion"] == {"tn": 1, "fp": 1, "fn": 1, "tp": 1}
    assert m["recall"] == 0.5 and m["false_positive_rate"] == 0.5


def test_mean_binary_metrics_average_the_scorings_and_give_their_range():
    y = np.array([1, 1, 0, 0])
    probas = np.array([[0.9, 0.2, 0.7, 0.1], [0.9, 0.8, 0.1, 0.1], [0.1, 0.1, 0.1, 0.1]])
    m = mean_binary_metrics(y, probas, 0.5)
    assert (m["rows"], m["scam"], m["legit"]) == (4, 2, 2)  # counts are the rows', not the scorings'
    assert m["recall"] == 0.5 and m["range"]["recall"] == [0.0, 1.0]
    assert m["false_positive_rate"] == round(0.5 / 3, 4) and m["range"]["false_positive_rate"] == [0.0, 0.5]
    assert m["confusion"] == {"tn": 1.7, "fp": 0.3, "fn": 1.0, "tp": 1.0}
    assert m["precision"] == 0.75  # the scoring that flags nothing has no precision: left out of the mean
    # One scoring is binary_metrics itself, without a range.
    assert mean_binary_metrics(y, probas[0], 0.5) == binary_metrics(y, probas[0], 0.5)
    with pytest.raises(ValueError, match="at least one scoring"):
        mean_binary_metrics(y, np.empty((0, 4)), 0.5)


def test_mean_metrics_by_group_splits_every_scoring_the_same_way():
    y, groups = np.array([1, 0, 1, 0]), np.array(["b", "b", "a", "a"])
    probas = np.array([[0.9, 0.6, 0.2, 0.1], [0.9, 0.1, 0.8, 0.1]])
    table = mean_metrics_by_group(y, probas, groups, 0.5)
    assert list(table) == ["a", "b"]
    assert table["a"]["recall"] == 0.5 and table["a"]["false_positive_rate"] == 0.0
    assert table["b"]["recall"] == 1.0 and table["b"]["range"]["false_positive_rate"] == [0.0, 1.0]


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


@pytest.mark.parametrize(
    ("length", "band"),
    [
        (0, "1: under 200 chars"),
        (199, "1: under 200 chars"),
        (200, "2: 200-999 chars"),
        (999, "2: 200-999 chars"),
        (1000, "3: 1000-2999 chars"),
        (2999, "3: 1000-2999 chars"),
        (3000, "4: 3000+ chars"),
        (10**7, "4: 3000+ chars"),
    ],
)
def test_length_bands_put_each_edge_in_the_band_it_opens(length, band):
    assert length_bands([length]).tolist() == [band]


@given(st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=50))
def test_length_bands_sort_as_the_lengths_do(lengths):
    assert len(length_bands(lengths)) == len(lengths)
    ordered = length_bands(sorted(lengths)).tolist()
    assert ordered == sorted(ordered)  # the labels' own order is the lengths' order


def test_report_breaks_metrics_down_by_transcript_length(tmp_path):
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.6, 0.8, 0.9, 0.7, 0.3])
    lengths = [50, 80, 120, 1500, 1800, 5000]
    report = evaluation_report(y, p, threshold=0.5, lengths=lengths)
    table = report["by_length"]
    assert list(table) == ["1: under 200 chars", "3: 1000-2999 chars", "4: 3000+ chars"]
    assert table["1: under 200 chars"]["false_positive_rate"] == 0.5
    assert table["3: 1000-2999 chars"]["confusion"] == {"tn": 0, "fp": 1, "fn": 0, "tp": 1}
    assert table["4: 3000+ chars"]["recall"] == 0.0
    assert sum(m["rows"] for m in table.values()) == len(y)
    write_report(report, tmp_path, y, p)
    assert "## By transcript length" in (tmp_path / "report.md").read_text()
    assert json.loads((tmp_path / "report.json").read_text())["by_length"] == table
    assert "by_length" not in evaluation_report(y, p, threshold=0.5)


@pytest.mark.parametrize("bad", [[float("nan")], [-1], [[1, 2]]])
def test_length_bands_refuse_what_is_not_a_length(bad):
    with pytest.raises(ValueError, match="lengths must be"):
        length_bands(bad)


def test_report_refuses_lengths_of_another_size():
    with pytest.raises(ValueError, match="2 values for 3 transcripts"):
        evaluation_report(np.array([0, 1, 1]), np.array([0.1, 0.9, 0.8]), threshold=0.5, lengths=[10, 20])
