"""Score a call turn by turn, incrementally: the early warning.

A call's features are the sums of its turns' n-gram and cue counts (n-grams do not cross turns).
For a TF-IDF block, the linear score of the normalised row is ``S / max(sqrt(Q), floor)`` with
``S = sum_j w_j v_j`` and ``Q = sum_j v_j ** 2`` over the block's columns, where
``v_j = (1 + log c_j) idf_j`` and ``floor`` is the block's fitted norm floor (0 before 0.13.0).
A new turn changes only the columns it contains, so ``S`` and ``Q`` are updated with those
columns alone: the cost of a turn does not grow with the length of the call. The cue block is
a function of the call's few cue counts. Evidence keeps, per block, the few columns with the
largest positive numerators ``w_j v_j`` (they only grow as counts grow), so it is bounded too.

:func:`reference_trajectory` computes the same prefix probabilities from scratch (every prefix
summed and weighed again); the tests hold the two equal.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from .config import is_blank
from .features import _LABEL_HINTS, FeatureNames, _is_cue_number, normalise_text
from .model import ScamClassifier, _fold_subphrases

__all__ = ["CallState", "CallTracker", "TurnScorer", "reference_trajectory", "split_turns"]

_CANDIDATES = 20  # columns kept per block for the evidence


def split_turns(text: Any) -> list[str]:
    """One call transcript, one turn per line, as its list of turns.

    Lines without speech are dropped: blank ones, and those that normalisation empties (a speaker
    label and start time on a line of their own, as meeting-notes exports write them, or a
    subtitle time range) and a subtitle cue number before its time range, so that turn numbers
    count what was said.

    >>> split_turns("A: hello\\n\\nB: this is the police\\n")
    ['A: hello', 'B: this is the police']
    >>> split_turns("Speaker 1  0:03\\nhello\\nSpeaker 2  0:07\\nthis is the police")
    ['hello', 'this is the police']
    """
    if text is None or (isinstance(text, float) and text != text):
        return []
    lines = str(text).splitlines()
    return [
        line
        for line, after in itertools.pairwise([*lines, ""])
        if not is_blank(line) and _speaks(line) and not _is_cue_number(line, after)
    ]


def _speaks(line: str) -> bool:
    # Lines of formatting only are short and hold a digit, a bracket, a label word or no letter
    # at all; any other line holds speech without being normalised here (that would double the
    # cost of scoring turn by turn).
    if len(line) > _FORMATTING_LINE_CHARS or not _MAYBE_FORMATTING.search(line):
        return True
    return bool(normalise_text(line))


_FORMATTING_LINE_CHARS = 64
# A digit, an opening bracket (also of "<v"), a speaker-label word, or no letter at all.
_MAYBE_FORMATTING = re.compile(
    r"(?i)\d|[<\[(]|" + "|".join(hint for hint in _LABEL_HINTS if hint.isalpha()) + r"|^\W*$"
)


@dataclass
class CallState:
    """What scamclf remembers about one call in progress."""

    counts: list[dict[int, float]]
    s: list[float]
    q: list[float]
    cues: np.ndarray
    top: list[dict[int, float]]
    phrases: dict[int, str] = field(default_factory=dict)
    cue_phrases: dict[str, str] = field(default_factory=dict)
    turns: int = 0
    probability: float = float("nan")
    max_probability: float = float("nan")
    alarm_turn: int | None = None
    last_seen: float = field(default_factory=time.monotonic)


class TurnScorer:
    """Incremental prefix scores of calls, from a fitted :class:`~scamclf.model.ScamClassifier`.

    Examples
    --------
    >>> scorer = TurnScorer(model.estimator)  # doctest: +SKIP
    >>> call = scorer.new_call()  # doctest: +SKIP
    >>> scorer.add_turns([call, call], ["hello this is bukit aman", "transfer to a safe account"])  # doctest: +SKIP
    array([0.41, 0.93])
    """

    def __init__(self, estimator: ScamClassifier, *, top_k: int = 5) -> None:
        features = estimator.features_
        coef = np.asarray(estimator.linear_.coef_, dtype=np.float64).ravel()
        weights = np.zeros(features.n_features_out_, dtype=np.float64)
        if estimator.feature_mask_ is None:
            weights[:] = coef
        else:
            weights[estimator.feature_mask_] = coef
        self.estimator = estimator
        self.top_k = top_k
        self.threshold = float(estimator.threshold_)
        self.blocks: list[tuple[Any, int, np.ndarray, np.ndarray]] = []
        # Each block's norm floor: a row is divided by max(its norm, floor), as NgramTfidf does.
        self.floors: list[float] = []
        offset = 0
        for _, vec in features.vectorisers_:
            width = vec.n_features_out_
            self.blocks.append((vec, offset, np.asarray(vec.idf_, dtype=np.float64), weights[offset : offset + width]))
            self.floors.append(float(vec.norm_floor_))  # 0.0 for vocabularies saved before 0.13.0
            offset += width
        self.lexicon = features.lexicon_
        self.lexicon_offset = offset
        self.lexicon_weights = weights[offset:] * float(features.lexicon_weight)
        self.intercept = float(estimator.linear_.intercept_[0])
        self.slope = float(estimator.calibrator_.coef_[0, 0])
        self.bias = float(estimator.calibrator_.intercept_[0])

    @cached_property
    def _names(self) -> FeatureNames:
        # Column names, sliced from the vocabularies when asked for (not 300k strings at once).
        return FeatureNames(self.estimator.features_)

    def new_call(self) -> CallState:
        """An empty call: no turns yet."""
        n = len(self.blocks)
        cues = np.zeros(len(self.lexicon.cues) if self.lexicon is not None else 0)
        return CallState(counts=[{} for _ in range(n)], s=[0.0] * n, q=[0.0] * n, cues=cues, top=[{} for _ in range(n)])

    # --- featurising and updating ----------------------------------------------------------------

    def featurise(self, texts: list[str]) -> tuple[list[str], list[sp.csr_matrix], np.ndarray]:
        """Per-turn features of ``texts``: normalised text, count rows per block, cue counts."""
        normalised = [normalise_text(t) for t in texts]
        masked = self.estimator.features_.ngram_texts(normalised)
        counts = [sp.csr_matrix(vec.count(masked), dtype=np.float64) for vec, _, _, _ in self.blocks]
        cues = self.lexicon.count_many(normalised) if self.lexicon is not None else np.zeros((len(texts), 0))
        return normalised, counts, cues

    def add_turns(self, states: list[CallState], texts: list[str]) -> np.ndarray:
        """Add one turn to each state (a state may repeat: its turns apply in order); return the probabilities."""
        featurised = self.featurise(texts)
        return np.array([self.apply(state, featurised, i) for i, state in enumerate(states)], dtype=np.float64)

    def apply(self, state: CallState, featurised: tuple[list[str], list[sp.csr_matrix], np.ndarray], k: int) -> float:
        """Apply turn ``k`` of a :meth:`featurise` batch to ``state``; return the call's probability."""
        normalised, counts, cues = featurised
        rows = [(c.indices[c.indptr[k] : c.indptr[k + 1]], c.data[c.indptr[k] : c.indptr[k + 1]]) for c in counts]
        return self.update(state, rows, cues[k], normalised[k])

    def update(
        self, state: CallState, rows: list[tuple[np.ndarray, np.ndarray]], cue_counts: np.ndarray, normalised: str
    ) -> float:
        """Apply one featurised turn to ``state``; return the call's probability after it."""
        for b, ((vec, offset, idf, weight), (columns, added)) in enumerate(zip(self.blocks, rows, strict=True)):
            counts, top = state.counts[b], state.top[b]
            s, q = state.s[b], state.q[b]
            sublinear = vec.sublinear_tf
            for j, add in zip(columns.tolist(), added.tolist(), strict=True):
                old = counts.get(j, 0.0)
                new = old + add
                counts[j] = new
                v_old = ((1.0 + math.log(old)) if sublinear else old) * idf[j] if old > 0 else 0.0
                v_new = ((1.0 + math.log(new)) if sublinear else new) * idf[j]
                w = weight[j]
                s += w * (v_new - v_old)
                q += v_new * v_new - v_old * v_old
                if w > 0:
                    self._keep_top(state, top, j, w * v_new, offset, normalised)
            state.s[b], state.q[b] = s, q
        if len(cue_counts):
            for cue in np.flatnonzero(cue_counts).tolist():
                name = self.lexicon.cues[cue]
                if name not in state.cue_phrases:
                    span = self.lexicon.first_span(normalised, name)
                    if span:
                        state.cue_phrases[name] = normalised[span[0] : span[1]].strip()
            state.cues = state.cues + cue_counts
        state.turns += 1
        state.last_seen = time.monotonic()
        p = self._probability(state)
        state.probability = p
        if not state.max_probability >= p:  # also when it is still NaN
            state.max_probability = p
        if state.alarm_turn is None and p >= self.threshold:
            state.alarm_turn = state.turns
        return p

    def _keep_top(self, state: CallState, top: dict[int, float], j: int, value: float, offset: int, text: str) -> None:
        if j not in top and len(top) >= _CANDIDATES:
            smallest = min(top, key=top.__getitem__)
            if top[smallest] >= value:
                return
            del top[smallest]
        top[j] = value
        column = offset + j
        if column not in state.phrases:
            phrase = self.estimator._phrase_for(self._names[column], text)
            if phrase:
                state.phrases[column] = phrase

    def decision(self, state: CallState) -> float:
        """The uncalibrated linear score of the call so far."""
        d = self.intercept
        for s, q, floor in zip(state.s, state.q, self.floors, strict=True):
            if q > 0:
                d += s / max(math.sqrt(q), floor)
        if self.lexicon is not None:
            d += float(self.lexicon.features_from_counts(state.cues)[0] @ self.lexicon_weights)
        return d

    def _probability(self, state: CallState) -> float:
        return 1.0 / (1.0 + math.exp(-(self.slope * self.decision(state) + self.bias)))

    # --- results ---------------------------------------------------------------------------------

    def evidence(self, state: CallState) -> list[tuple[str, float]]:
        """The phrases of the call so far that raised its score most."""
        phrases: dict[str, float] = {}
        for b, (_, offset, _, _) in enumerate(self.blocks):
            norm = max(math.sqrt(state.q[b]), self.floors[b]) if state.q[b] > 0 else 0.0
            for j, numerator in state.top[b].items():
                phrase = state.phrases.get(offset + j)
                if phrase and norm:
                    phrases[phrase] = phrases.get(phrase, 0.0) + float(numerator / norm)
        if self.lexicon is not None and state.cues.any():
            values = self.lexicon.features_from_counts(state.cues)[0] * self.lexicon_weights
            for name, value in zip(self.lexicon.feature_names, values.tolist(), strict=True):
                phrase = state.cue_phrases.get(name.split("&")[0])
                if value > 0 and phrase:
                    phrases[phrase] = phrases.get(phrase, 0.0) + float(value)
        merged = sorted(_fold_subphrases(phrases).items(), key=lambda kv: -kv[1])
        return [(p, round(w, 3)) for p, w in merged[: self.top_k]]

    def trajectories(self, calls: list[list[str]]) -> list[np.ndarray]:
        """The probability after every turn of each call (all turns featurised in one batch)."""
        featurised = self.featurise([turn for turns in calls for turn in turns])
        out, k = [], 0
        for turns in calls:
            state = self.new_call()
            out.append(np.array([self.apply(state, featurised, k + t) for t in range(len(turns))], dtype=np.float64))
            k += len(turns)
        return out


def reference_trajectory(scorer: TurnScorer, turns: list[str]) -> np.ndarray:
    """Prefix probabilities computed from scratch: each prefix's counts summed and weighed anew.

    The slow path that :class:`TurnScorer` must agree with; O(turns^2), for tests and benchmarks.
    """
    _, counts, cues = scorer.featurise(turns)
    out = np.empty(len(turns))
    for k in range(1, len(turns) + 1):
        decision = scorer.intercept
        for (vec, _, idf, weight), block, floor in zip(scorer.blocks, counts, scorer.floors, strict=True):
            prefix = np.asarray(block[:k].sum(axis=0)).ravel()
            present = prefix > 0
            values = np.zeros_like(prefix)
            values[present] = (1.0 + np.log(prefix[present]) if vec.sublinear_tf else prefix[present]) * idf[present]
            norm = max(float(np.sqrt(values @ values)), floor)
            if norm > 0:
                decision += float(values @ weight) / norm
        if scorer.lexicon is not None:
            decision += float(scorer.lexicon.features_from_counts(cues[:k].sum(axis=0))[0] @ scorer.lexicon_weights)
        out[k - 1] = 1.0 / (1.0 + np.exp(-(scorer.slope * decision + scorer.bias)))
    return out


class CallTracker:
    """The calls in progress of a live stream, in bounded memory.

    A call is dropped when it ends, when it has been idle for ``idle_timeout`` seconds, or (the
    least recently active first) when more than ``max_calls`` are open.
    """

    def __init__(self, scorer: TurnScorer, *, idle_timeout: float = 900.0, max_calls: int = 10_000) -> None:
        self.scorer = scorer
        self.idle_timeout = idle_timeout
        self.max_calls = max_calls
        self.calls: dict[str, CallState] = {}  # insertion order = least recently active first
        self._swept = time.monotonic()

    def state(self, call_id: str) -> CallState:
        """The state of ``call_id`` (a new call if unknown), marked as the most recently active."""
        now = time.monotonic()
        if now - self._swept >= 1.0:
            self._sweep(now)
        state = self.calls.pop(call_id, None)
        if state is None:
            state = self.scorer.new_call()
            while len(self.calls) >= self.max_calls:
                del self.calls[next(iter(self.calls))]
        self.calls[call_id] = state
        return state

    def end(self, call_id: str) -> None:
        self.calls.pop(call_id, None)

    def _sweep(self, now: float) -> None:
        self._swept = now
        stale = [c for c, s in self.calls.items() if now - s.last_seen > self.idle_timeout]
        for call_id in stale:
            del self.calls[call_id]
