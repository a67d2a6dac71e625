"""Metrics, per-group breakdowns, calibration, and evaluation reports with plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_score,
    roc_auc_score,
)

from .dataset import atomic_write_bytes

__all__ = [
    "binary_metrics",
    "evaluation_report",
    "format_table",
    "length_bands",
    "macro_average",
    "mean_binary_metrics",
    "mean_metrics",
    "mean_metrics_by_group",
    "mean_tables",
    "metrics_by_group",
    "reliability_curve",
    "write_report",
]


def _safe(fn: Any, *args: Any, **kwargs: Any) -> float | None:
    try:
        value = float(fn(*args, **kwargs))
    except ValueError:
        return None
    return None if np.isnan(value) else round(value, 4)


def binary_metrics(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, Any]:
    """Return precision, recall, F1, false-positive rate, ROC-AUC, PR-AUC and counts.

    ``y`` is 1 for scam, 0 for legit. Metrics undefined for a one-class sample are ``None``.

    >>> binary_metrics(np.array([1, 0]), np.array([0.9, 0.2]), 0.5)["f1"]
    1.0
    """
    y = np.asarray(y).astype(int)
    proba = np.asarray(proba, dtype=float)
    pred = (proba >= threshold).astype(int)
    n_scam, n_legit = int((y == 1).sum()), int((y == 0).sum())
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    both = n_scam > 0 and n_legit > 0
    return {
        "rows": len(y),
        "scam": n_scam,
        "legit": n_legit,
        "precision": _safe(precision_score, y, pred, zero_division=0) if pred.sum() else None,
        "recall": round(tp / n_scam, 4) if n_scam else None,
        "f1": _safe(f1_score, y, pred, zero_division=0) if n_scam else None,
        "false_positive_rate": round(fp / n_legit, 4) if n_legit else None,
        "roc_auc": _safe(roc_auc_score, y, proba) if both else None,
        "pr_auc": _safe(average_precision_score, y, proba) if both else None,
        "brier": _safe(brier_score_loss, y, proba) if len(y) else None,
        "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
    }


_COUNTS = ("rows", "scam", "legit", "confusion")  # the rows'; every other key of binary_metrics is averaged
_RANGED = ("recall", "false_positive_rate", "f1", "pr_auc")


def mean_metrics(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Average :func:`binary_metrics` results of several scorings of the same rows.

    Counts are the rows' (the first run's); each rate is the mean over the runs where it is
    defined, the confusion counts are means, and with more than one run ``range`` gives
    ``[min, max]`` of recall, false-positive rate, F1 and PR-AUC. One run is returned as it is.
    """
    if not runs:
        raise ValueError("averaging metrics needs at least one scoring of the rows, got none.")
    if len(runs) == 1:
        return runs[0]
    out = dict(runs[0])
    for key in (k for k in out if k not in _COUNTS):
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = round(float(np.mean(values)), 4) if values else None
    out["confusion"] = {k: round(float(np.mean([r["confusion"][k] for r in runs])), 1) for k in runs[0]["confusion"]}
    out["range"] = {
        key: [float(min(values)), float(max(values))]
        for key in _RANGED
        if (values := [r[key] for r in runs if r[key] is not None])
    }
    return out


def mean_binary_metrics(y: np.ndarray, probas: np.ndarray, threshold: float) -> dict[str, Any]:
    """:func:`binary_metrics` of several scorings of the same rows, averaged (:func:`mean_metrics`).

    ``probas`` holds one row of probabilities per scoring (shape ``(k, n)``; a 1-d array is one
    scoring): for example one per assignment of sources to held-out folds, so that which sources
    happened to share a fold weighs less.

    >>> m = mean_binary_metrics(np.array([1, 0]), np.array([[0.9, 0.2], [0.4, 0.2]]), 0.5)
    >>> m["recall"], m["range"]["recall"]
    (0.5, [0.0, 1.0])
    """
    return mean_metrics([binary_metrics(y, p, threshold) for p in np.atleast_2d(np.asarray(probas, dtype=float))])


def mean_metrics_by_group(
    y: np.ndarray, probas: np.ndarray, groups: Any, threshold: float
) -> dict[str, dict[str, Any]]:
    """:func:`mean_binary_metrics` for every value of ``groups`` (e.g. source)."""
    return mean_tables(
        [metrics_by_group(y, p, groups, threshold) for p in np.atleast_2d(np.asarray(probas, dtype=float))]
    )


def mean_tables(tables: Sequence[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per-group tables of several scorings (:func:`metrics_by_group`), averaged group by group."""
    if not tables:
        raise ValueError("averaging metrics needs at least one scoring of the rows, got none.")
    return {g: mean_metrics([table[g] for table in tables]) for g in tables[0]}


def metrics_by_group(y: np.ndarray, proba: np.ndarray, groups: Any, threshold: float) -> dict[str, dict[str, Any]]:
    """Return :func:`binary_metrics` for every value of ``groups`` (e.g. source, language)."""
    groups = np.asarray([str(g) for g in groups])
    return {
        g: binary_metrics(np.asarray(y)[groups == g], np.asarray(proba)[groups == g], threshold)
        for g in sorted(set(groups))
    }


def macro_average(table: dict[str, dict[str, Any]], key: str, *, both_classes: bool = False) -> float | None:
    """Average ``key`` over groups where it is defined (optionally only groups with both classes)."""
    values = [
        m[key]
        for m in table.values()
        if m.get(key) is not None and (not both_classes or (m["scam"] > 0 and m["legit"] > 0))
    ]
    return round(float(np.mean(values)), 4) if values else None


def reliability_curve(y: np.ndarray, proba: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Return, per probability bin, the mean predicted probability and the observed scam rate."""
    y = np.asarray(y).astype(float)
    proba = np.asarray(proba, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(proba, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        rows = which == b
        if rows.any():
            out.append(
                {
                    "bin_low": round(float(edges[b]), 2),
                    "bin_high": round(float(edges[b + 1]), 2),
                    "mean_predicted": round(float(proba[rows].mean()), 4),
                    "observed_rate": round(float(y[rows].mean()), 4),
                    "rows": int(rows.sum()),
                }
            )
    return out


# Transcript length bands (characters): a text message or query, a short call, a call, a long call.
LENGTH_EDGES = (200, 1000, 3000)


def length_bands(lengths: Any, edges: tuple[int, ...] = LENGTH_EDGES) -> np.ndarray:
    """The length band of each transcript length (characters), as labels that sort by length.

    >>> length_bands([12, 200, 2500, 9000]).tolist()
    ['1: under 200 chars', '2: 200-999 chars', '3: 1000-2999 chars', '4: 3000+ chars']
    """
    values = np.atleast_1d(np.asarray(lengths, dtype=np.float64))
    if values.ndim != 1 or not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("lengths must be one finite, non-negative number of characters per transcript")
    lengths = values.astype(np.int64)
    names = [f"1: under {edges[0]} chars"]
    names += [f"{i + 2}: {lo}-{hi - 1} chars" for i, (lo, hi) in enumerate(pairwise(edges))]
    names.append(f"{len(edges) + 1}: {edges[-1]}+ chars")
    return np.asarray(names, dtype=object)[np.searchsorted(np.asarray(edges), lengths, side="right")]


def evaluation_report(
    y: np.ndarray,
    proba: np.ndarray,
    *,
    threshold: float,
    groups: dict[str, Any] | None = None,
    lengths: Any = None,
) -> dict[str, Any]:
    """Return the full evaluation: overall metrics, breakdowns by each group column, calibration.

    With ``lengths`` (characters per transcript), ``report["by_length"]`` breaks the metrics down
    by :func:`length_bands`. On most benchmark sources genuine texts of 200-999 characters are
    flagged more often than shorter ones from the same source, up to seven times as often
    (``benchmarks/README.md``), so a false-positive rate measured on short texts says little about
    whole calls.
    """
    report: dict[str, Any] = {
        "threshold": threshold,
        "overall": binary_metrics(y, proba, threshold),
        "calibration": reliability_curve(y, proba),
        "by": {},
    }
    if lengths is not None:
        bands = length_bands(lengths)
        if len(bands) != len(y):
            raise ValueError(f"lengths has {len(bands)} values for {len(y)} transcripts")
        report["by_length"] = metrics_by_group(y, proba, bands, threshold)
    for name, values in (groups or {}).items():
        table = metrics_by_group(y, proba, values, threshold)
        report["by"][name] = {
            "groups": table,
            "macro_f1": macro_average(table, "f1", both_classes=True),
            "macro_recall": macro_average(table, "recall"),
            "macro_false_positive_rate": macro_average(table, "false_positive_rate"),
        }
    return report


def early_detection(
    y: np.ndarray, trajectories: list[np.ndarray], threshold: float, *, max_turns: int = 50
) -> dict[str, Any]:
    """How early the scam calls are caught: metrics when deciding after k turns, k = 1..N.

    ``trajectories`` holds each call's probability after every turn. For each k: ``recall`` and
    ``false_positive_rate`` of the score after k turns (a call shorter than k: after its last),
    and ``alarm_recall`` / ``alarm_false_positive_rate`` of an alarm raised at any turn up to
    k. ``median_turns_to_alarm`` is over the scam calls that raise one.

    >>> r = early_detection(np.array([1, 0]), [np.array([0.2, 0.9]), np.array([0.1])], 0.5)
    >>> r["alarm_recall"][:2], r["median_turns_to_alarm"]
    ([0.0, 1.0], 2.0)
    """
    y = np.asarray(y).astype(int)
    lengths = np.array([len(t) for t in trajectories])
    n_turns = int(min(lengths.max(initial=0), max_turns))
    alarm_at = np.array([int(np.argmax(t >= threshold)) + 1 if (t >= threshold).any() else 0 for t in trajectories])
    out: dict[str, Any] = {"threshold": threshold, "calls": len(y), "scam_calls": int(y.sum()), "turns": []}
    for key in ("recall", "false_positive_rate", "alarm_recall", "alarm_false_positive_rate"):
        out[key] = []
    scam, legit = y == 1, y == 0
    for k in range(1, n_turns + 1):
        after = np.array([t[min(k, len(t)) - 1] if len(t) else 0.0 for t in trajectories])
        flagged = after >= threshold
        alarmed = (alarm_at > 0) & (alarm_at <= k)
        out["turns"].append(k)
        out["recall"].append(round(float(flagged[scam].mean()), 4) if scam.any() else None)
        out["false_positive_rate"].append(round(float(flagged[legit].mean()), 4) if legit.any() else None)
        out["alarm_recall"].append(round(float(alarmed[scam].mean()), 4) if scam.any() else None)
        out["alarm_false_positive_rate"].append(round(float(alarmed[legit].mean()), 4) if legit.any() else None)
    caught = alarm_at[scam & (alarm_at > 0)]
    out["median_turns_to_alarm"] = float(np.median(caught)) if len(caught) else None
    out["scam_calls_alarmed"] = round(float(len(caught) / scam.sum()), 4) if scam.any() else None
    out["median_turns_per_call"] = float(np.median(lengths)) if len(lengths) else None
    return out


def format_early_detection(report: dict[str, Any], rows: int = 15) -> str:
    """The early-detection curve as a Markdown table (the first ``rows`` turns)."""
    lines = ["| after k turns | recall | FPR | alarm recall | alarm FPR |", "| --- | --- | --- | --- | --- |"]
    cell = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for i, k in enumerate(report["turns"][:rows]):
        values = (report[c][i] for c in ("recall", "false_positive_rate", "alarm_recall", "alarm_false_positive_rate"))
        lines.append(f"| {k} | " + " | ".join(cell(v) for v in values) + " |")
    lines.append(
        f"\nScam calls that raise an alarm: {cell(report['scam_calls_alarmed'])}; median turns to the alarm: "
        f"{report['median_turns_to_alarm']}; median turns per call: {report['median_turns_per_call']}"
    )
    return "\n".join(lines)


def format_table(table: dict[str, dict[str, Any]], title: str = "group") -> str:
    """Format a per-group metrics table as aligned text (also valid Markdown)."""
    keys = ["rows", "scam", "legit", "recall", "false_positive_rate", "f1", "pr_auc"]
    header = [title, "rows", "scam", "legit", "recall", "FPR", "F1", "PR-AUC"]

    def cell(v: Any) -> str:
        return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))

    rows = [[name] + [cell(m.get(k)) for k in keys] for name, m in table.items()]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    sep = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def write_report(
    report: dict[str, Any],
    report_dir: str | Path,
    y: np.ndarray,
    proba: np.ndarray,
    *,
    force: bool = False,
) -> list[Path]:
    """Write ``report.json``, ``report.md`` and PNG plots (PR, ROC, reliability, histogram; early detection)."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    written = [
        atomic_write_bytes(report_dir / "report.json", json.dumps(report, indent=2).encode(), force=force),
        atomic_write_bytes(report_dir / "report.md", _markdown(report).encode(), force=force),
    ]
    written.extend(_plots(report_dir, np.asarray(y).astype(int), np.asarray(proba, dtype=float), report, force))
    return written


def _markdown(report: dict[str, Any]) -> str:
    overall = report["overall"]
    lines = [
        "# scamclf evaluation report",
        "",
        f"Scam threshold: {report['threshold']:.3f}",
        "",
        format_table({"all": overall}, "data"),
        "",
        f"Confusion: {overall['confusion']}; Brier score: {overall['brier']}",
        "",
    ]
    for name, block in report["by"].items():
        lines += [
            f"## By {name}",
            "",
            format_table(block["groups"], name),
            "",
            f"Macro F1 (groups with both classes): {block['macro_f1']}",
            "",
        ]
    if "by_length" in report:
        lines += [
            "## By transcript length",
            "",
            format_table(report["by_length"], "length"),
            "",
            "False alarms on genuine calls often rise with transcript length: read each band's false-positive rate.",
            "",
        ]
    if "early_detection" in report:
        lines += ["## Early detection (turn by turn)", "", format_early_detection(report["early_detection"]), ""]
    plots = "`pr_curve.png`, `roc_curve.png`, `reliability.png`, `score_histogram.png`"
    if "early_detection" in report:
        plots += ", `early_detection.png`"
    lines += [f"Plots: {plots}.", ""]
    return "\n".join(lines)


def _plots(report_dir: Path, y: np.ndarray, proba: np.ndarray, report: dict[str, Any], force: bool) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    out: list[Path] = []

    def save(fig: Any, name: str) -> None:
        import io

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        out.append(atomic_write_bytes(report_dir / name, buffer.getvalue(), force=force))

    both = len(np.unique(y)) == 2
    fig, ax = plt.subplots(figsize=(4.5, 4))
    if both:
        precision, recall, _ = precision_recall_curve(y, proba)
        ax.plot(recall, precision)
    ax.set(xlabel="recall", ylabel="precision", title=f"PR curve (AP={report['overall']['pr_auc']})")
    save(fig, "pr_curve.png")

    fig, ax = plt.subplots(figsize=(4.5, 4))
    if both:
        fpr, tpr, _ = roc_curve(y, proba)
        ax.plot(fpr, tpr)
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false-positive rate", ylabel="recall", title=f"ROC curve (AUC={report['overall']['roc_auc']})")
    save(fig, "roc_curve.png")

    fig, ax = plt.subplots(figsize=(4.5, 4))
    cal = report["calibration"]
    ax.plot([c["mean_predicted"] for c in cal], [c["observed_rate"] for c in cal], marker="o")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="predicted probability", ylabel="observed scam rate", title="Reliability")
    save(fig, "reliability.png")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    bins = np.linspace(0, 1, 21)
    for label, name in ((0, "legit"), (1, "scam")):
        if (y == label).any():
            ax.hist(proba[y == label], bins=bins, alpha=0.6, label=name)
    ax.axvline(report["threshold"], color="black", linestyle="--", label="threshold")
    ax.set(xlabel="scam probability", ylabel="transcripts", title="Scores by class")
    ax.legend()
    save(fig, "score_histogram.png")

    early = report.get("early_detection")
    if early and early["turns"]:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for key, label in (("alarm_recall", "scam recall (alarm by turn k)"), ("alarm_false_positive_rate", "FPR")):
            if early[key][0] is not None:
                ax.plot(early["turns"], early[key], marker=".", label=label)
        ax.set(xlabel="turns heard (k)", ylabel="rate", ylim=(0, 1.02), title="Early detection")
        ax.legend()
        save(fig, "early_detection.png")

    return out
