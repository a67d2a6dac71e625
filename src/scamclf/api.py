"""The library API the CLI is built on: train, load, score and predict."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import (
    DEFAULT_PROJECT_MODEL_PATH,
    LABEL_SCAM,
    MODEL_ENV_VAR,
    OUTPUT_COLUMNS,
    TURN_COLUMNS,
    UNFAMILIAR_NOTE_START,
    is_blank,
    user_model_path,
)
from .dataset import (
    TableWriter,
    check_text_column,
    iter_table_chunks,
    labelled_frame,
    load_bundled_corpus,
    mask_label_leaks,
    normalise_labels,
    read_table,
    read_training_data,
    render_rows,
    validate_training_frame,
)
from .errors import DataError, ModelError, ModelIntegrityError
from .evaluate import (
    binary_metrics,
    early_detection,
    evaluation_report,
    macro_average,
    mean_binary_metrics,
    mean_tables,
    metrics_by_group,
)
from .features import normalise_text
from .model import FIT_TOL, THRESHOLD_SMOOTHING, ScamClassifier, _labels_to_int, row_languages, source_weights
from .parallel import ordered_map, release_memory, resolve_jobs
from .persistence import load_model, save_model
from .redact import redact_evidence, redact_frame

__all__ = [
    "EVIDENCE_MODES",
    "MAX_TRANSCRIPT_CHARS",
    "UNFAMILIAR_MIN_LETTERS",
    "UNFAMILIAR_SHARE",
    "ScamModel",
    "evaluate_file",
    "evidence_mode",
    "fit_frame",
    "load",
    "resolve_model_path",
    "score_file",
    "train",
    "training_frame",
    "training_weights",
    "unfamiliar_note",
]

# Scoring reads at most this much of one transcript: the opening of a call carries the script,
# and a runaway 10 MB cell must not stall a batch. Rows cut short say so in `note`.
MAX_TRANSCRIPT_CHARS = 100_000

#: A scored row with at least this share of its letters, and at least ``UNFAMILIAR_MIN_LETTERS`` of
#: them, in a script the training text did not hold says so in `note`: a script the model never
#: learned (Tamil, Thai, Korean, Hindi for the bundled corpus) gets no features, so its score is that
#: of an empty text whatever the call says. No row of the shared corpora, the bundled corpus or the
#: challenge set is noted.
UNFAMILIAR_SHARE = 0.2
UNFAMILIAR_MIN_LETTERS = 3

#: Which rows get evidence: the ``scam`` and ``suspicious`` ones (the default), every row, none.
EVIDENCE_MODES = ("flagged", "all", "none")


def evidence_mode(evidence: bool | str) -> str:
    """Return the evidence mode of ``evidence``: one of :data:`EVIDENCE_MODES`; ``True`` is ``"all"``.

    Explaining costs about a third of scoring time, and an analyst reads the evidence of the
    calls that were flagged, so by default only those are explained (as only they get a
    ``scam_type``); ``"all"`` also explains the calls judged legit.

    ``False`` and ``None`` are ``"none"``.

    >>> evidence_mode(True), evidence_mode(False), evidence_mode("flagged")
    ('all', 'none', 'flagged')
    """
    if evidence is None:
        return "none"
    if isinstance(evidence, bool | np.bool_):
        return "all" if evidence else "none"
    if isinstance(evidence, str) and evidence in EVIDENCE_MODES:
        return evidence
    raise ValueError(f"evidence must be one of {', '.join(EVIDENCE_MODES)} (or True / False), not {evidence!r}")


# The project's own Macau-scam corpus holds the calls scamclf exists for and their genuine
# look-alikes, the only hard negatives in the bundled data; it counts this many times its
# source-balanced weight (measured: 1 -> 3, held-out macro F1 0.790 -> 0.798, Macau look-alike FPR
# down; 3 -> 6 with the lexicon at weight 2, on the corpus with batch 2: Macau look-alike FPR
# 0.31/0.11/0.23 -> 0.24/0.10/0.16 en/ms/zh at the same macro F1 in a sweep; the full run after it
# did not reproduce the look-alike gain: 0.30/0.10/0.23; benchmarks/README.md).
IN_DOMAIN_SOURCE_PREFIX = "macau_"
IN_DOMAIN_WEIGHT = 6.0


def unfamiliar_note(share: float, script: str) -> str:
    """The ``note`` of a transcript written largely in a script its model never saw in training.

    >>> unfamiliar_note(0.92, "TAMIL")
    'unfamiliar writing: 92% of the letters are Tamil, a script the training data does not hold; the score says little'
    """
    name = {"CJK": "Chinese characters", "": "unnamed characters"}.get(script, script.title())
    return (
        f"{UNFAMILIAR_NOTE_START}{share:.0%} of the letters are {name}, a script the training data does not hold; "
        "the score says little"
    )


def in_domain_weights(sources: Iterable[str]) -> np.ndarray:
    """Return the training weight multiplier of each row's source (see ``IN_DOMAIN_WEIGHT``)."""
    return np.array([IN_DOMAIN_WEIGHT if str(s).startswith(IN_DOMAIN_SOURCE_PREFIX) else 1.0 for s in sources])


def training_weights(frame: pd.DataFrame) -> np.ndarray:
    """The weights ``train`` fits the rows of a frame (text, label, source, lang) with.

    :func:`scamclf.model.source_weights` with the Macau corpus boosted ``IN_DOMAIN_WEIGHT``
    times (:func:`in_domain_weights`): sources balanced, scam and legit balanced within each
    language and, since 0.24.0, within each language's domain (the Macau corpus; every other
    source). For inspection, not for ``sample_weight``: ``fit`` computes these weights itself, so
    passing them would apply them twice; pass ``domain_weight=in_domain_weights(sources)`` as
    ``train`` does. (Up to 0.24.0 this returned the multiplier to pass as ``sample_weight``.)
    """
    sources = frame["source"].astype(str).to_numpy()
    y = _labels_to_int(frame["label"])
    languages = row_languages(frame["text"].astype(str).tolist(), frame.get("lang"))
    return source_weights(y, sources, languages, boost=in_domain_weights(sources))


def fit_frame(estimator: ScamClassifier, frame: pd.DataFrame, *, sample_weight: Any = None) -> ScamClassifier:
    """Fit ``estimator`` on a training frame (from :func:`training_frame`) as ``train`` does.

    Sources as groups, row languages, scam types, and the Macau boost (:func:`in_domain_weights`);
    ``sample_weight`` multiplies the resulting weights (``ScamClassifier.fit``).
    """
    return estimator.fit(
        frame["text"].tolist(),
        frame["label"].tolist(),
        groups=frame["source"].tolist(),
        lang=frame["lang"].tolist(),
        scam_type=frame["scam_type"].tolist(),
        domain_weight=in_domain_weights(frame["source"]),
        sample_weight=sample_weight,
    )


def _data_hash(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for text, label in zip(frame["text"], frame["label"], strict=True):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


def training_frame(
    data: pd.DataFrame | str | Path | Iterable[str | Path] | None = None,
    *,
    text_col: str = "text",
    label_col: str = "label",
    with_bundled: bool = False,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Return the labelled rows a model would train on (files, a frame, and/or the bundled corpus).

    ``data`` is a data frame, one file path or several.

    Examples
    --------
    >>> frame = training_frame()  # the bundled corpus
    >>> sorted(frame["label"].unique())
    ['legit', 'scam']
    """
    frames = []
    where = "bundled corpus"
    if data is None or with_bundled:
        frames.append(load_bundled_corpus())
    if isinstance(data, pd.DataFrame):
        check_text_column(data, text_col, "data frame")
        if label_col not in data.columns:
            raise DataError(f"data frame: no label column {label_col!r}")
        frames.append(labelled_frame(data, text_col=text_col, label_col=label_col, where="data frame", source="user"))
        where = "data frame"
    elif data is not None:
        paths = [data] if isinstance(data, (str, os.PathLike)) else list(data)
        if paths:
            # Validated below, together: a one-class file is fine when the bundled corpus joins it.
            frames.append(
                read_training_data(paths, text_col=text_col, label_col=label_col, encoding=encoding, validate=False)
            )
            where = ", ".join(str(p) for p in paths)
        elif not with_bundled:
            frames.append(load_bundled_corpus())
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[~frame["text"].map(is_blank)].reset_index(drop=True)
    if with_bundled and where != "bundled corpus":
        where += " with the bundled corpus"
    validate_training_frame(frame, where=where)
    return mask_label_leaks(frame)


@dataclass
class ScamModel:
    """A fitted :class:`~scamclf.model.ScamClassifier` with its metadata, ready to score.

    Examples
    --------
    >>> model = scamclf.load()  # doctest: +SKIP
    >>> model.predict("this is bukit aman, transfer your savings to a safe account")["verdict"]  # doctest: +SKIP
    'scam'
    """

    estimator: ScamClassifier
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def threshold(self) -> float:
        """The scam threshold chosen on held-out folds."""
        return float(self.estimator.threshold_)

    def score_texts(
        self,
        texts: Iterable[Any],
        *,
        threshold: float | None = None,
        evidence: bool | str = "flagged",
        top_k: int = 5,
        redact: bool = False,
    ) -> pd.DataFrame:
        """Score transcripts; return one row each with the output columns of ``scamclf score``.

        Empty, whitespace-only or missing transcripts get no score and ``note="empty"``;
        transcripts longer than :data:`MAX_TRANSCRIPT_CHARS` are scored on their opening and
        noted ``truncated``; those with a fifth or more of their letters in a script the model
        never saw are noted ``unfamiliar writing: ...`` (:data:`UNFAMILIAR_SHARE`,
        :func:`unfamiliar_note`). ``evidence`` says which rows are explained (see
        :func:`evidence_mode`): by default the ``scam`` and ``suspicious`` ones, like
        ``scam_type``. With ``redact``, personal data in the evidence is masked (see
        :mod:`scamclf.redact`); scores are always computed on the original text.
        """
        return self._score(texts, threshold=threshold, evidence=evidence, top_k=top_k, redact=redact)[0]

    def _score(
        self, texts: Iterable[Any], *, threshold: float | None, evidence: bool | str, top_k: int, redact: bool
    ) -> tuple[pd.DataFrame, list[list[tuple[str, float]]]]:
        """:meth:`score_texts`, and the evidence of each row as (phrase, weight) pairs."""
        mode = evidence_mode(evidence)
        texts = list(texts)
        n = len(texts)
        note = np.full(n, "", dtype=object)
        clean: list[str] = []
        scored: list[int] = []
        for i, text in enumerate(texts):
            if _blank(text):
                note[i] = "empty"
                continue
            text = str(text)
            if len(text) > MAX_TRANSCRIPT_CHARS:
                text = text[:MAX_TRANSCRIPT_CHARS]
                note[i] = f"truncated to {MAX_TRANSCRIPT_CHARS} characters"
            clean.append(text)
            scored.append(i)
        proba = np.full(n, np.nan)
        verdict = np.full(n, "", dtype=object)
        is_scam = np.full(n, "", dtype=object)
        scam_type = np.full(n, "", dtype=object)
        evidence_col = np.full(n, "", dtype=object)
        evidence_lists: list[list[tuple[str, float]]] = [[] for _ in range(n)]
        if scored:
            est = self.estimator
            t = self.threshold if threshold is None else float(threshold)
            normalised = [normalise_text(text) for text in clean]
            Xf = est.transform_normalised(normalised)
            p = est._proba_from_features(Xf)
            idx = np.asarray(scored)
            for k, share, count, script in zip(idx, *est.features_.unfamiliar_letters(normalised), strict=True):
                if share >= UNFAMILIAR_SHARE and count >= UNFAMILIAR_MIN_LETTERS:
                    note[k] = "; ".join(filter(None, [note[k], unfamiliar_note(share, script)]))
            proba[idx] = np.round(p, 6)
            v = est.verdicts(p, t)
            verdict[idx] = v
            is_scam[idx] = np.where(p >= t, "true", "false")
            flagged = v != "legit"
            if flagged.any():
                types = est.predict_type_from_features(Xf[np.flatnonzero(flagged)])
                scam_type[idx[flagged]] = types
            if mode == "all":
                explain = range(len(clean))
                found = est.explain_features(clean, Xf, top_k=top_k, normalised=normalised)
            elif mode == "flagged":
                explain = np.flatnonzero(flagged).tolist()
                found = est.explain_features(
                    [clean[k] for k in explain], Xf[explain], top_k=top_k, normalised=[normalised[k] for k in explain]
                )
            else:
                explain, found = [], []
            for k, ev in zip(explain, found, strict=True):
                if redact:
                    ev = list(zip(redact_evidence([p for p, _ in ev], clean[k]), [w for _, w in ev], strict=True))
                evidence_lists[idx[k]] = ev
                evidence_col[idx[k]] = "; ".join(f"{phrase} ({weight:+.2f})" for phrase, weight in ev)
        out = pd.DataFrame(
            {
                "scam_probability": proba,
                "is_scam": is_scam,
                "verdict": verdict,
                "scam_type": scam_type,
            }
        )
        if mode != "none":
            out["evidence"] = evidence_col
        out["note"] = note
        return out, evidence_lists

    def score_frame(
        self,
        frame: pd.DataFrame,
        *,
        text_col: str = "text",
        threshold: float | None = None,
        evidence: bool | str = "flagged",
        overwrite_columns: bool = False,
        redact: bool = False,
        source: str | Path = "input",
    ) -> pd.DataFrame:
        """Return ``frame`` with the score columns appended (input columns kept, in order).

        ``evidence`` picks the rows explained (:func:`evidence_mode`; default: scam and suspicious).
        With ``redact``, personal data is masked in every text column and in the evidence.
        ``source`` names the input in error messages.
        """
        _check_frame(frame, text_col, overwrite_columns, source)
        scores = self.score_texts(frame[text_col].tolist(), threshold=threshold, evidence=evidence, redact=redact)
        return _with_scores(frame, scores, redact)

    def score_turns(
        self,
        frame: pd.DataFrame,
        *,
        text_col: str = "text",
        call_id_col: str | None = None,
        turn_col: str | None = None,
        speaker_col: str | None = None,
        trajectory: bool = False,
        threshold: float | None = None,
        evidence: bool | str = "flagged",
        overwrite_columns: bool = False,
        source: str | Path = "input",
    ) -> pd.DataFrame:
        """Score calls turn by turn: after which turn would scamclf have raised the alarm?

        Either one text per call with one turn per line (speaker prefixes such as ``A:`` or
        ``caller:`` are formatting and ignored), or long format: ``call_id_col`` names the call
        of each row (one row per turn), ordered by ``turn_col`` (else by file order);
        ``speaker_col`` is checked and kept but not scored. One output row per input row, with
        the columns of :meth:`score_frame` plus ``alarm_turn`` (the first turn, 1-based, after
        which the call's score reaches the scam threshold; empty if never), ``max_probability``
        and, with ``trajectory``, the probability after every turn (a JSON list). In long format
        each row also gets ``turn`` and carries the call's score and evidence *after that turn*
        (``evidence`` as in :meth:`score_texts`: by default on rows whose verdict so far is not legit);
        its ``note`` does not say when the call is written in a script the model never saw (one
        text per call does, as :meth:`score_texts`).

        Prefix scores use per-turn features (n-grams do not cross turns) and are updated
        incrementally (:mod:`scamclf.turns`); for a one-text call the last prefix score can
        differ slightly from ``scam_probability``, which reads the text whole.
        """
        from .turns import TurnScorer, split_turns

        for column, what in ((call_id_col, "--call-id-col"), (turn_col, "--turn-col"), (speaker_col, "--speaker-col")):
            if column is not None and column not in frame.columns:
                raise DataError(
                    f"{source}: no column {column!r} (given as {what}); columns: {', '.join(map(str, frame.columns))}"
                )
        if (turn_col or speaker_col) and not call_id_col:
            raise DataError("--turn-col and --speaker-col describe long format: give --call-id-col too")
        _check_frame(frame, text_col, overwrite_columns, source)
        clash = [c for c in TURN_COLUMNS if c in frame.columns]
        if clash and not overwrite_columns:
            raise DataError(f"input already has column(s) {', '.join(clash)}; rename them or pass --overwrite-columns")
        t = self.threshold if threshold is None else float(threshold)
        scorer = TurnScorer(self.estimator)
        scorer.threshold = t
        if call_id_col is None:
            out = self.score_frame(
                frame, text_col=text_col, threshold=threshold, evidence=evidence, overwrite_columns=True, source=source
            )
            trajectories = scorer.trajectories([split_turns(text) for text in frame[text_col].tolist()])
            _add_turn_summary(out, trajectories, list(range(len(frame))), t, trajectory)
            return out
        return self._score_long_format(frame, scorer, text_col, call_id_col, turn_col, t, trajectory, evidence)

    def _score_long_format(
        self,
        frame: pd.DataFrame,
        scorer: Any,
        text_col: str,
        call_id_col: str,
        turn_col: str | None,
        t: float,
        trajectory: bool,
        evidence: bool | str,
    ) -> pd.DataFrame:
        order = _turn_order(frame, call_id_col, turn_col)
        texts = ["" if _missing(v) else str(v) for v in frame[text_col].to_numpy()[order]]
        featurised = scorer.featurise(texts)
        n = len(frame)
        proba = np.full(n, np.nan)
        turn = np.zeros(n, dtype=np.int64)
        evidence_col = np.full(n, "", dtype=object)
        calls = frame[call_id_col].astype(str).to_numpy()[order]
        rows_of_call: list[list[int]] = []
        state = None
        mode = evidence_mode(evidence)
        est = self.estimator
        flag_floor = est.flag_floor(t)
        for k, row in enumerate(order.tolist()):
            if k == 0 or calls[k] != calls[k - 1]:
                state = scorer.new_call()
                rows_of_call.append([])
            proba[row] = scorer.apply(state, featurised, k)
            turn[row] = state.turns
            rows_of_call[-1].append(row)
            if mode == "all" or (mode == "flagged" and proba[row] >= flag_floor):
                evidence_col[row] = "; ".join(f"{p} ({w:+.2f})" for p, w in scorer.evidence(state))
        trajectories = [proba[rows] for rows in rows_of_call]
        verdict = est.verdicts(proba, t)
        scam_type = np.full(n, "", dtype=object)
        flagged_calls = [rows for rows in rows_of_call if (verdict[rows] != "legit").any()]
        if flagged_calls:
            joined = ["\n".join(_texts_of(frame, text_col, rows)) for rows in flagged_calls]
            types = est.predict_type_from_features(est.transform_features(joined))
            for rows, kind in zip(flagged_calls, types, strict=True):
                for row in rows:
                    scam_type[row] = kind if verdict[row] != "legit" else ""
        out = frame.copy()
        out["turn"] = turn
        out["scam_probability"] = np.round(proba, 6)
        out["is_scam"] = np.where(proba >= t, "true", "false")
        out["verdict"] = verdict
        out["scam_type"] = scam_type
        if mode != "none":
            out["evidence"] = evidence_col
        out["note"] = np.where([_blank(v) for v in frame[text_col]], "empty", "")
        _add_turn_summary(out, trajectories, rows_of_call, t, trajectory)
        return out

    def predict(
        self, text: str, *, threshold: float | None = None, top_k: int = 5, redact: bool = False
    ) -> dict[str, Any]:
        """Score one transcript; return ``scam_probability``, ``is_scam``, ``verdict``, ``scam_type``, ``evidence``."""
        return self.predict_many([text], threshold=threshold, top_k=top_k, redact=redact)[0]

    def predict_many(
        self, texts: Iterable[Any], *, threshold: float | None = None, top_k: int = 5, redact: bool = False
    ) -> list[dict[str, Any]]:
        """:meth:`predict` for each transcript, scored as one batch (what ``POST /score`` answers)."""
        rows, evidence_lists = self._score(texts, threshold=threshold, evidence="all", top_k=top_k, redact=redact)
        t = self.threshold if threshold is None else float(threshold)
        out = []
        for i, evidence in enumerate(evidence_lists):
            probability = rows["scam_probability"].iloc[i]
            out.append(
                {
                    "scam_probability": None if np.isnan(probability) else float(probability),
                    "is_scam": rows["is_scam"].iloc[i] == "true",
                    "verdict": rows["verdict"].iloc[i] or None,
                    "scam_type": rows["scam_type"].iloc[i] or None,
                    "evidence": [{"phrase": p, "weight": w} for p, w in evidence],
                    "threshold": t,
                    "note": rows["note"].iloc[i] or None,
                }
            )
        return out

    def evaluate(
        self,
        frame: pd.DataFrame,
        *,
        text_col: str = "text",
        label_col: str = "label",
        group_cols: Iterable[str] = (),
        threshold: float | None = None,
        source: str | Path = "input",
        by_turn: bool = False,
        call_id_col: str | None = None,
        turn_col: str | None = None,
    ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
        """Evaluate on labelled rows; return ``(report, y, proba)`` (see :mod:`scamclf.evaluate`).

        Rows with an empty transcript are left out; unknown label values are refused. ``source``
        names the input in error messages. With ``by_turn`` the report adds the early-detection
        curve (``report["early_detection"]``): calls are one text each, one turn per line, or
        long format (``call_id_col``, ``turn_col``), whose turns are joined into one text per call
        for the other metrics and whose call is a scam if any of its rows says so.
        """
        if call_id_col is not None:
            frame = _calls_from_turns(frame, text_col, label_col, call_id_col, turn_col, group_cols, source)
        check_text_column(frame, text_col, source)
        for column in [label_col, *group_cols]:
            if column not in frame.columns:
                hint = "; pass --label-col" if column == label_col else ""
                raise DataError(f"{source}: no column {column!r}; columns: {', '.join(map(str, frame.columns))}{hint}")
        kept = frame[~frame[text_col].fillna("").astype(str).map(is_blank)].reset_index(drop=True)
        labels = normalise_labels(kept[label_col], where=str(source), label_col=label_col)
        if kept.empty:
            raise DataError(f"{source}: no rows with a transcript to evaluate")
        y = (labels == LABEL_SCAM).to_numpy().astype(int)
        texts = kept[text_col].astype(str)
        proba = self.estimator.predict_proba(texts.tolist())[:, 1]
        t = self.threshold if threshold is None else threshold
        groups = {c: kept[c].astype(str).to_numpy() for c in group_cols}
        report = evaluation_report(y, proba, threshold=t, groups=groups, lengths=texts.str.len().to_numpy())
        if by_turn or call_id_col is not None:
            from .turns import TurnScorer, split_turns

            scorer = TurnScorer(self.estimator)
            paths = scorer.trajectories([split_turns(text) for text in texts])
            report["early_detection"] = early_detection(y, paths, t)
        return report, y, proba

    def save(self, path: str | Path, *, force: bool = False) -> Path:
        """Save the model (verified header, atomic write; an existing file needs ``force``)."""
        self.path = save_model(self.estimator, path, metadata=self.metadata, force=force)
        return self.path

    def info(self) -> dict[str, Any]:
        """Return the model's metadata (header) with its path."""
        return {"path": str(self.path) if self.path else None, **self.metadata}


def train(
    data: pd.DataFrame | str | Path | Iterable[str | Path] | None = None,
    *,
    text_col: str = "text",
    label_col: str = "label",
    with_bundled: bool = False,
    miss_cost: float = 1.0,
    suspicious_recall: float = 0.95,
    threshold_smoothing: float = THRESHOLD_SMOOTHING,
    tol: float = FIT_TOL,
    source_offset: float = 0.0,
    random_state: int = 0,
    n_jobs: int | None = None,
    encoding: str = "utf-8",
    notify: Callable[[str], None] | None = None,
    random_split: bool = True,
) -> ScamModel:
    """Train a model on files or a frame (``data``: a frame, one path or several), or on the bundled corpus
    when ``data`` is None.

    ``notify`` receives one message once the data is read and checked, before the long fit.
    ``random_split=False`` skips the extra 80/20 fit that only reports an (optimistic) metric.
    ``tol`` is the stopping tolerance of every linear fit (see :class:`ScamClassifier`): 1e-4 trains
    about 1.5x faster and stops short of the optimum, so retraining on the same data can move scores.
    ``source_offset`` gives each source its own intercept while fitting (see :class:`ScamClassifier`):
    fewer false alarms on genres no source of the training data shares, at the cost of recall there;
    off by default (benchmarks/README.md has the measurements).

    Thresholds are chosen on held-out sources; ``metadata["metrics"]`` holds held-out-source
    metrics (``leave_one_source_out``: each row scored by a model that never saw its source; the
    sources are held out in up to six folds, on each of ``assignments`` assignments of sources to
    folds; ``by_source`` and ``overall`` are means over them with each figure's ``range``, and
    ``macro_f1_by_assignment`` lists each one's macro F1) and a random 80/20 split.

    Examples
    --------
    >>> model = train()  # doctest: +SKIP
    >>> model.metadata["metrics"]["leave_one_source_out"]["macro_f1"]  # doctest: +SKIP
    """
    frame = training_frame(data, text_col=text_col, label_col=label_col, with_bundled=with_bundled, encoding=encoding)
    if source_offset and frame["source"].nunique() < 2:
        raise DataError(
            f"source offsets need at least two sources; the training data holds one ({frame['source'].iloc[0]!r}): "
            "add a source column, give several files, or add the bundled corpus"
        )
    if notify:
        notify(f"{len(frame)} rows read and checked; fitting")
    estimator = ScamClassifier(
        miss_cost=miss_cost,
        suspicious_recall=suspicious_recall,
        threshold_smoothing=threshold_smoothing,
        tol=tol,
        source_offset=source_offset,
        random_state=random_state,
        n_jobs=n_jobs,
        random_split_eval=random_split,
    )
    fit_frame(estimator, frame)
    y = (frame["label"] == LABEL_SCAM).to_numpy().astype(int)
    metrics = _training_metrics(estimator, y, frame)
    metadata = {
        "data_sha256": _data_hash(frame),
        "rows": len(frame),
        "class_counts": frame["label"].value_counts().to_dict(),
        "source_counts": frame["source"].value_counts().to_dict(),
        "classes": ["legit", "scam"],
        "threshold": float(estimator.threshold_),
        "suspicious_threshold": float(estimator.suspicious_threshold_),
        "miss_cost": miss_cost,
        "suspicious_recall": suspicious_recall,
        "threshold_smoothing": threshold_smoothing,
        "tol": tol,
        "source_offset": source_offset,
        "scam_types": [str(t) for t in estimator.type_classes_],
        "metrics": metrics,
    }
    return ScamModel(estimator, metadata)


def _training_metrics(estimator: ScamClassifier, y: np.ndarray, frame: pd.DataFrame) -> dict[str, Any]:
    t = estimator.threshold_
    sources = frame["source"].to_numpy()
    # Every assignment of sources to folds scored each row once; which sources share a fold moves
    # a source's figures (0.32.0's bundled corpus: Chinese Macau calls held out with KdConv flagged
    # 0.67 of their genuine rows in one assignment), so the report is their mean, with the range.
    probas = getattr(estimator, "oof_proba_repeats_", None)
    if probas is None:  # an estimator unpickled from a model saved before 0.32.0
        probas = estimator.oof_proba_[np.newaxis, :]
    averaged = (
        f"; every figure is the mean over {len(probas)} assignments of sources to folds, 'range' its minimum and maximum"
        if len(probas) > 1
        else ""
    )
    tables = [metrics_by_group(y, p, sources, t) for p in probas]
    by_source = mean_tables(tables)
    metrics: dict[str, Any] = {
        "leave_one_source_out": {
            "note": (
                "each row scored by a model that never saw its source (sources held out in up to "
                f"{estimator.max_group_folds} folds); the TF-IDF vocabulary (unsupervised) is fitted on all rows"
                + averaged
            ),
            "assignments": len(probas),
            "overall": mean_binary_metrics(y, probas, t),
            "by_source": by_source,
            "macro_f1": macro_average(by_source, "f1", both_classes=True),
            "macro_f1_by_assignment": [macro_average(table, "f1", both_classes=True) for table in tables],
            "macro_recall": macro_average(by_source, "recall"),
            "macro_false_positive_rate": macro_average(by_source, "false_positive_rate"),
        }
    }
    if getattr(estimator, "random_split_proba_", None) is not None:
        test = estimator.random_split_index_
        metrics["random_split"] = {
            "note": "stratified 80/20 split of rows (optimistic: rows of one source on both sides)",
            **binary_metrics(y[test], estimator.random_split_proba_, t),
        }
    return metrics


# --- which model ---------------------------------------------------------------------------------


def resolve_model_path(path: str | Path | None = None) -> tuple[Path, str]:
    """Return the model path to use and where it came from.

    Order: ``path``; the ``SCAMCLF_MODEL`` environment variable; ``./models/scamclf.joblib`` when
    it exists; the per-user default model.
    """
    if path:
        return Path(path), "--model-path"
    env = os.environ.get(MODEL_ENV_VAR)
    if env:
        return Path(env), MODEL_ENV_VAR
    if DEFAULT_PROJECT_MODEL_PATH.exists():
        return DEFAULT_PROJECT_MODEL_PATH, "project"
    return user_model_path(), "user"


def load(
    path: str | Path | None = None,
    *,
    train_if_missing: bool = True,
    notify: Callable[[str], None] | None = None,
) -> ScamModel:
    """Verify and load a model (see :func:`resolve_model_path` for which one).

    When no path is given and the per-user default model does not exist yet, it is trained
    from the bundled corpus and saved there first (``notify`` receives a message saying so).
    """
    model_path, origin = resolve_model_path(path)
    if origin == "user" and not model_path.exists() and train_if_missing:
        if notify:
            notify(f"No model yet: training the default model from the bundled corpus into {model_path} (once)")
        model = train()
        try:
            model.save(model_path)
        except Exception as exc:  # another process may have saved it meanwhile
            if not model_path.exists():
                raise ModelError(f"{model_path}: could not save the default model ({exc})") from exc
    estimator, header = load_model(model_path)
    if not isinstance(estimator, ScamClassifier):
        raise ModelError(f"{model_path}: holds a {type(estimator).__name__}, not a scamclf model")
    _check_structure(estimator, model_path)
    try:
        # A model pickled by an incompatible scamclf build unpickles fine and breaks on first use:
        # find out now, with a message that says what to do.
        estimator.predict_proba(["hello", "你好，請問"])
        # Built now, so that forked workers share it instead of each building its own.
        estimator._feature_names()
    except Exception as exc:
        written = header.get("versions", {}).get("scamclf")
        raise ModelError(
            f"{model_path}: model written by scamclf {written} does not work with this version "
            f"({type(exc).__name__}); retrain it with `scamclf train --force`"
        ) from exc
    return ScamModel(estimator, header, model_path)


def _check_structure(estimator: ScamClassifier, model_path: Path) -> None:
    """Refuse allow-listed parts put together in a way scamclf never builds.

    The unpickler admits only scamclf's own types, but their settings come from the file: a
    vectoriser told to read each transcript as a *file name* would open files while scoring.
    """
    from .features import shipped_lexicon_specs
    from .ngrams import KNOWN_TOKEN_PATTERNS, NgramTfidf, is_norm_floor

    features = getattr(estimator, "features_", None)
    vectorisers = getattr(features, "vectorisers_", None)
    problems = []
    if not isinstance(vectorisers, list) or not vectorisers:
        problems.append("no vectorisers")
    else:
        for _, vec in vectorisers:
            if not isinstance(vec, NgramTfidf) or vec.analyzer not in ("word", "char_wb"):
                problems.append("a vectoriser uses an analyzer scamclf never uses")
            elif vec.analyzer == "word" and vec.token_pattern not in KNOWN_TOKEN_PATTERNS:
                # A pattern from a file could be built to backtrack for ever on some transcript.
                problems.append("a vectoriser uses a token pattern scamclf never uses")
            elif not (
                isinstance(getattr(vec, "terms_", None), str)
                and isinstance(getattr(vec, "idf_", None), np.ndarray)
                and len(vec.idf_) == vec.n_features_out_ == vec.terms_.count("\n") + 1
            ):
                problems.append("a vectoriser's vocabulary and weights do not match")
            elif not is_norm_floor(getattr(vec, "norm_floor_", 0.0), limit=1e6):
                # NaN would turn every score into NaN; a huge floor would silence every text.
                problems.append("a vectoriser's norm floor is not a finite number >= 0")
    if not isinstance(getattr(features, "known_scripts_", ""), str):
        problems.append("its record of known scripts is not text")
    lexicon = getattr(features, "lexicon_", None)
    # The patterns are compared too: a pattern from a file could backtrack for ever.
    if lexicon is not None and getattr(lexicon, "spec", None) not in shipped_lexicon_specs():
        problems.append("its cue lexicon differs from the one this scamclf ships")
    if problems:
        raise ModelIntegrityError(f"{model_path}: refusing this model: {problems[0]}; retrain it")


# --- files ---------------------------------------------------------------------------------------


def stream(
    model: ScamModel,
    lines: Iterable[str],
    *,
    threshold: float | None = None,
    evidence: bool | str = "flagged",
    idle_timeout: float = 900.0,
    max_calls: int = 10_000,
) -> Iterator[dict[str, Any]]:
    """Score a live stream of utterances: one answer per input line, as soon as it is read.

    Each line is a JSON object ``{"call_id": ..., "text": ..., "speaker": ...}`` (``speaker``
    optional; ``"end": true`` closes the call, ``text`` may then be left out). The answer has
    ``line``, ``call_id``, ``turn`` (1-based), the call's ``scam_probability`` and ``verdict``
    so far, ``alarm`` (true on the turn that first reaches the scam threshold) and the
    ``evidence`` so far: with ``evidence="flagged"`` (the default, see :func:`evidence_mode`) a
    list only while the call's verdict is not legit (else empty), with ``"all"`` always, with
    ``"none"`` no ``evidence`` key. A line that cannot be read gets
    ``{"line": n, "error": "..."}`` and the stream goes on. Memory is bounded: ended calls are
    dropped, idle ones after ``idle_timeout`` seconds, the least recently active beyond
    ``max_calls``. Answers carry no ``note``: a call in writing the model never saw scores as an
    empty text turn after turn; :meth:`ScamModel.score_texts` on the whole call says so.
    """
    from .turns import CallTracker, TurnScorer

    scorer = TurnScorer(model.estimator)
    if threshold is not None:
        scorer.threshold = float(threshold)
    tracker = CallTracker(scorer, idle_timeout=idle_timeout, max_calls=max_calls)
    est = model.estimator
    mode = evidence_mode(evidence)
    for number, raw in enumerate(lines, start=1):
        try:
            call_id, text, end = _utterance(raw)
        except DataError as exc:
            yield {"line": number, "error": str(exc)}
            continue
        state = tracker.state(call_id)
        answer: dict[str, Any] = {"line": number, "call_id": call_id}
        if text is not None:
            p = float(scorer.add_turns([state], [text])[0])
            verdict = str(est.verdicts(np.array([p]), scorer.threshold)[0])
            answer.update(
                turn=state.turns,
                scam_probability=round(p, 6),
                verdict=verdict,
                alarm=state.alarm_turn == state.turns,
            )
            if mode == "all" or (mode == "flagged" and verdict != "legit"):
                answer["evidence"] = [{"phrase": ph, "weight": w} for ph, w in scorer.evidence(state)]
            elif mode == "flagged":
                answer["evidence"] = []
        else:
            answer.update(turn=state.turns)
        if end:
            tracker.end(call_id)
            answer["end"] = True
        yield answer


def _utterance(raw: str) -> tuple[str, str | None, bool]:
    """Read one stream line: (call id, text or None, end); :class:`DataError` says what is wrong."""
    if len(raw) > 4 * MAX_TRANSCRIPT_CHARS:
        raise DataError(f"line longer than {4 * MAX_TRANSCRIPT_CHARS} characters")
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(f"not a JSON object ({exc.msg} at column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:  # huge numbers, absurd nesting
        raise DataError(f"not a usable JSON object ({type(exc).__name__})") from None
    if not isinstance(item, dict):
        raise DataError('not a JSON object; send {"call_id": ..., "text": ...}')
    call_id = item.get("call_id")
    if isinstance(call_id, bool) or not isinstance(call_id, str | int) or call_id == "":
        raise DataError('"call_id" is missing or not a string or integer')
    if isinstance(call_id, str) and not call_id.isprintable():
        raise DataError('"call_id" holds control characters or unpaired surrogates')
    end = item.get("end", False)
    if not isinstance(end, bool):
        raise DataError('"end" must be true or false')
    text = item.get("text")
    if text is None and not end:
        raise DataError('"text" is missing (only a line with "end": true may leave it out)')
    if text is not None and not isinstance(text, str):
        raise DataError('"text" must be a string')
    speaker = item.get("speaker")
    if speaker is not None and not isinstance(speaker, str):
        raise DataError('"speaker" must be a string')
    if text is not None and len(text) > MAX_TRANSCRIPT_CHARS:
        text = text[:MAX_TRANSCRIPT_CHARS]
    return str(call_id), text, end


def _calls_from_turns(
    frame: pd.DataFrame,
    text_col: str,
    label_col: str,
    call_id_col: str,
    turn_col: str | None,
    group_cols: Iterable[str],
    source: str | Path,
) -> pd.DataFrame:
    """Long format (one row per turn) as one row per call: turns joined one per line, in order."""
    for column in [call_id_col, text_col, label_col, *([turn_col] if turn_col else [])]:
        if column not in frame.columns:
            raise DataError(f"{source}: no column {column!r}; columns: {', '.join(map(str, frame.columns))}")
    ordered = frame.iloc[_turn_order(frame, call_id_col, turn_col)]
    labels = normalise_labels(ordered[label_col], where=str(source), label_col=label_col)
    ordered = ordered.assign(**{label_col: labels.to_numpy(), "_text": ordered[text_col].fillna("").astype(str)})
    calls = ordered.groupby(ordered[call_id_col].astype(str), sort=False)
    out = pd.DataFrame(
        {
            call_id_col: list(calls.groups),
            text_col: calls["_text"].agg(lambda turns: "\n".join(t for t in turns if not is_blank(t))).to_numpy(),
            label_col: calls[label_col].agg(lambda v: LABEL_SCAM if (v == LABEL_SCAM).any() else "legit").to_numpy(),
        }
    )
    for column in group_cols:
        out[column] = calls[column].first().astype(str).to_numpy()
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _blank(value: Any) -> bool:
    """Missing, or no visible character (whitespace and invisible format characters only)."""
    if _missing(value):
        return True
    return is_blank(str(value))


def _texts_of(frame: pd.DataFrame, text_col: str, rows: list[int]) -> list[str]:
    values = frame[text_col].to_numpy()[rows]
    return ["" if _missing(v) else str(v) for v in values]


def _turn_order(frame: pd.DataFrame, call_id_col: str, turn_col: str | None) -> np.ndarray:
    """Row positions grouped by call (calls in order of first appearance), turns in order."""
    calls = frame[call_id_col].astype(str)
    first = pd.factorize(calls)[0]
    keys: list[Any] = [np.arange(len(frame))]
    if turn_col is not None:
        turns = pd.to_numeric(frame[turn_col], errors="coerce")
        if turns.isna().any():  # not all numbers: order as text
            keys.append(pd.factorize(frame[turn_col].astype(str), sort=True)[0])
        else:
            keys.append(turns.to_numpy())
    keys.append(first)
    return np.lexsort(keys)


def _add_turn_summary(
    out: pd.DataFrame, trajectories: list[np.ndarray], rows_of_call: list[Any], threshold: float, trajectory: bool
) -> None:
    """Per call: the alarm turn, the highest prefix probability and (optionally) every one of them."""
    n = len(out)
    alarm = np.full(n, "", dtype=object)
    highest = np.full(n, np.nan)
    path = np.full(n, "[]", dtype=object)
    for rows, probabilities in zip(rows_of_call, trajectories, strict=True):
        crossed = np.flatnonzero(probabilities >= threshold)
        rows = [rows] if isinstance(rows, int) else rows
        alarm[rows] = str(int(crossed[0]) + 1) if len(crossed) else ""
        highest[rows] = round(float(probabilities.max()), 6) if len(probabilities) else np.nan
        path[rows] = json.dumps([round(float(p), 6) for p in probabilities])
    out["alarm_turn"] = alarm
    out["max_probability"] = highest
    if trajectory:
        out["trajectory"] = path


def _check_frame(frame: pd.DataFrame, text_col: str, overwrite_columns: bool, source: str | Path) -> None:
    check_text_column(frame, text_col, source)
    clash = [c for c in OUTPUT_COLUMNS if c in frame.columns]
    if clash and not overwrite_columns:
        raise DataError(f"input already has column(s) {', '.join(clash)}; rename them or pass --overwrite-columns")


def _with_scores(frame: pd.DataFrame, scores: pd.DataFrame, redact: bool) -> pd.DataFrame:
    out = redact_frame(frame, frame.columns) if redact else frame.copy()
    for column in scores.columns:
        out[column] = scores[column].to_numpy()
    return out


def score_file(
    model: ScamModel,
    input_path: str | Path,
    output_path: str | Path | None = None,
    *,
    text_col: str = "text",
    input_format: str | None = None,
    output_format: str | None = None,
    threshold: float | None = None,
    evidence: bool | str = "flagged",
    overwrite_columns: bool = False,
    force: bool = False,
    encoding: str = "utf-8",
    chunksize: int = 1_000,
    progress: Callable[[int], None] | None = None,
    redact: bool = False,
    jobs: int | None = 1,
    by_turn: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score a table file chunk by chunk into ``output_path`` (atomically) or standard output.

    Returns a summary: rows, rows flagged per verdict, rows without a score. ``evidence``
    picks the rows explained (:func:`evidence_mode`; default: scam and suspicious). With ``redact``,
    personal data is masked in the text columns and the evidence written (not in the scoring).
    ``jobs`` worker processes score chunks in parallel (``None`` or 0: all CPUs); the output
    is the same for any number of jobs. ``by_turn`` (keyword arguments of
    :meth:`ScamModel.score_turns`: ``call_id_col``, ``turn_col``, ``speaker_col``,
    ``trajectory``) scores turn by turn in one process; long format is read whole, since the
    turns of a call may be anywhere in the file.
    """
    summary: dict[str, Any] = {"rows": 0, "scam": 0, "suspicious": 0, "legit": 0, "not_scored": 0, "unfamiliar": 0}
    chunks = iter_table_chunks(input_path, fmt=input_format, chunksize=chunksize, encoding=encoding)
    with TableWriter(output_path, fmt=output_format, force=force) as writer:
        if by_turn is not None:
            options = {"threshold": threshold, "evidence": evidence, "overwrite_columns": overwrite_columns}
            parts = _turn_parts(model, chunks, by_turn, text_col, options, redact, input_path)
            parts = (_ScoredPart.of(frame, writer.fmt) for frame in parts)
        else:
            job = {
                "text_col": text_col,
                "score": {"threshold": threshold, "evidence": evidence, "redact": redact},
                "fmt": writer.fmt,
            }
            parts = _scored_parts(model, chunks, resolve_jobs(jobs), job, overwrite_columns, input_path)
        for part in parts:
            if part.frame is not None:
                writer.write(part.frame)
            else:
                writer.write_rendered(part.header, part.body)
            for key, count in part.counts.items():
                summary[key] += count
            if progress:
                progress(part.counts["rows"])
            release_memory()
        writer.commit()
    return summary


@dataclass
class _ScoredPart:
    """A scored chunk, ready to write: rendered text (CSV, TSV, JSONL) or a frame (Parquet)."""

    counts: dict[str, int]
    frame: pd.DataFrame | None = None
    header: str = ""
    body: str = ""

    @classmethod
    def of(cls, scored: pd.DataFrame, fmt: str) -> _ScoredPart:
        verdicts = scored["verdict"].value_counts()
        counts = {"rows": len(scored), "not_scored": int(verdicts.get("", 0))}
        counts.update({v: int(verdicts.get(v, 0)) for v in ("scam", "suspicious", "legit")})
        notes = scored["note"] if "note" in scored.columns else pd.Series([], dtype=object)
        counts["unfamiliar"] = int(notes.astype(str).str.contains(UNFAMILIAR_NOTE_START, regex=False).sum())
        if fmt == "parquet":
            return cls(counts, frame=scored)
        header, body = render_rows(scored, fmt)
        return cls(counts, header=header, body=body)


def _score_chunk(model: ScamModel, chunk: pd.DataFrame, job: dict[str, Any]) -> _ScoredPart:
    """Score a chunk and render it for the writer: the costly steps, run in a worker with --jobs."""
    scores = model.score_texts(chunk[job["text_col"]].tolist(), **job["score"])
    return _ScoredPart.of(_with_scores(chunk, scores, job["score"]["redact"]), job["fmt"])


def _scored_parts(
    model: ScamModel,
    chunks: Iterator[pd.DataFrame],
    jobs: int,
    job: dict[str, Any],
    overwrite_columns: bool,
    source: str | Path,
) -> Iterator[_ScoredPart]:
    """Each chunk checked, scored and rendered; in worker processes when there is work for them."""

    def checked(some: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for chunk in some:
            _check_frame(chunk, job["text_col"], overwrite_columns, source)
            yield chunk

    first = next(chunks, None)
    second = next(chunks, None) if first is not None and jobs > 1 else None
    if second is None:  # one chunk (or one job): starting workers would cost more than it saves
        rest = itertools.chain([first], chunks) if first is not None else iter(())
        for chunk in checked(rest):
            yield _score_chunk(model, chunk, job)
        return
    items = ((None, chunk) for chunk in checked(itertools.chain([first, second], chunks)))
    for _, part in ordered_map(model, items, jobs, _score_chunk, job):
        yield part


def _turn_parts(
    model: ScamModel,
    chunks: Iterator[pd.DataFrame],
    by_turn: dict[str, Any],
    text_col: str,
    options: dict[str, Any],
    redact: bool,
    source: str | Path,
) -> Iterator[pd.DataFrame]:
    """``score --by-turn``: in one process; long format is read whole (a call's turns may be anywhere)."""
    if by_turn.get("call_id_col"):
        chunks = iter([pd.concat(list(chunks), ignore_index=True)])
    for chunk in chunks:
        scored = model.score_turns(chunk, text_col=text_col, source=source, **options, **by_turn)
        yield redact_frame(scored, [c for c in scored.columns if c != "trajectory"]) if redact else scored


def evaluate_file(
    model: ScamModel,
    data_path: str | Path,
    *,
    text_col: str = "text",
    label_col: str = "label",
    group_cols: Iterable[str] = (),
    threshold: float | None = None,
    encoding: str = "utf-8",
    by_turn: bool = False,
    call_id_col: str | None = None,
    turn_col: str | None = None,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Evaluate ``model`` on a labelled file; see :meth:`ScamModel.evaluate`."""
    frame = read_table(data_path, encoding=encoding)
    return model.evaluate(
        frame,
        text_col=text_col,
        label_col=label_col,
        group_cols=group_cols,
        threshold=threshold,
        source=data_path,
        by_turn=by_turn,
        call_id_col=call_id_col,
        turn_col=turn_col,
    )
