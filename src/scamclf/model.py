"""The scam-call estimator: features, a linear classifier, calibration, thresholds, types, evidence."""

from __future__ import annotations

import numbers
import re
import warnings
from contextlib import nullcontext
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed, parallel_config
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from .config import FIT_TOL, LABEL_LEGIT, LABEL_SCAM, SCAM_TYPES, THRESHOLD_SMOOTHING, normalise_label
from .features import SPOKEN_NUMBER_PATTERN, FeatureNames, ScamFeatures, as_texts, normalise_text

__all__ = [
    "FIT_TOL",
    "THRESHOLD_SMOOTHING",
    "ScamClassifier",
    "balance_classes",
    "choose_thresholds",
    "row_languages",
    "script_of",
    "source_weights",
]


def source_weights(
    y: np.ndarray, groups: np.ndarray | None, languages: np.ndarray | None = None, *, boost: Any = None
) -> np.ndarray:
    """Return sample weights so that no single source, language or class dominates training.

    Each (source, class) cell gets a total weight that grows with the square root of its size,
    so a 10,000-row corpus counts about 4.5 times a 500-row one rather than 20 times. Then, within
    each language, scam and legit rows get equal total weight (and every language the same total):
    otherwise a language whose corpora are mostly scams (generated Chinese scam dialogues) teaches
    "this language means scam". Without ``languages`` the two classes are balanced overall.
    Without ``boost``, weights have mean 1.

    ``boost`` (one multiplier per row, or ``None``) then multiplies each row's weight: scamclf
    gives its in-domain corpus ``IN_DOMAIN_WEIGHT`` (:func:`scamclf.api.in_domain_weights`). The
    rows of one language with the same multiplier form a domain (so give a domain one exact value:
    6.0 and 6.0000001 are two domains); scam and legit get equal weight
    again within each domain, then within each language, each keeping its total (a domain holding
    one class is rebalanced with the rest of its language). Without this the boost would tip the
    classes it multiplies: in 0.23.0 the English Macau calls trained 81% scam (since 0.24.0).

    >>> source_weights(np.array([1, 0, 0, 0]), None).round(2).tolist()
    [2.0, 0.67, 0.67, 0.67]
    """
    y = np.asarray(y)
    weights = np.ones(len(y), dtype=np.float64)
    if groups is not None:
        groups = np.asarray(groups)
        for g in np.unique(groups):
            for c in (0, 1):
                cell = (groups == g) & (y == c)
                n = int(cell.sum())
                if n:
                    weights[cell] = np.sqrt(n) / n
    strata = np.zeros(len(y), dtype=object) if languages is None else np.asarray(languages, dtype=object)
    balance_classes(weights, y, strata)
    weights *= len(y) / weights.sum()
    if boost is None:
        return weights
    boost = np.asarray(boost, dtype=np.float64)
    if boost.shape != weights.shape:
        raise ValueError(
            f"boost (fit's domain_weight) must hold one multiplier per row: {len(y)} rows, got shape {boost.shape}."
        )
    if not np.all(np.isfinite(boost) & (boost > 0)):
        raise ValueError(
            "boost (fit's domain_weight) must be positive and finite in every row; 0, negative, NaN or inf found."
        )
    weights *= boost
    domains = np.asarray([f"{s}|{b!r}" for s, b in zip(strata, boost.tolist(), strict=True)], dtype=object)
    balance_classes(weights, y, domains, keep_totals=True)
    return balance_classes(weights, y, strata, keep_totals=True)


def balance_classes(weights: np.ndarray, y: np.ndarray, strata: np.ndarray, *, keep_totals: bool = False) -> np.ndarray:
    """Scale ``weights`` in place so that scam and legit rows weigh the same within each stratum.

    Each class of a stratum gets 0.5 in all (every stratum then weighs the same, a stratum of one
    class 0.5), or with ``keep_totals`` half of the stratum's own total (a stratum holding one
    class is left as it is). Returns ``weights``.

    >>> balance_classes(np.ones(4), np.array([1, 0, 0, 0]), np.zeros(4), keep_totals=True).tolist()
    [2.0, 0.6666666666666666, 0.6666666666666666, 0.6666666666666666]
    """
    y = np.asarray(y)
    strata = np.asarray(strata, dtype=object)
    for stratum in np.unique(strata):
        rows = strata == stratum
        if keep_totals and len(np.unique(y[rows])) < 2:
            continue  # nothing to balance against
        half = 0.5 * weights[rows].sum() if keep_totals else 0.5
        for c in (0, 1):
            cell = rows & (y == c)
            if cell.any():
                weights[cell] *= half / weights[cell].sum()
    return weights


_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def script_of(text: str) -> str:
    """Return ``"cjk"`` when at least a fifth of the letters are CJK characters, else ``"latin"``.

    Used as the language of a row when training data has no ``lang`` column.

    >>> script_of("你好 hello"), script_of("hello there")
    ('cjk', 'latin')
    """
    letters = sum(ch.isalpha() for ch in text[:2000])
    return "cjk" if letters and len(_CJK_RE.findall(text[:2000])) >= 0.2 * letters else "latin"


def row_languages(texts: list[str], lang: Any = None) -> np.ndarray:
    """The language stratum of each row: its ``lang`` value, else :func:`script_of` its text."""
    given = [None] * len(texts) if lang is None else list(lang)
    return np.asarray(
        [str(v) if v not in (None, "") and v == v else script_of(str(t)) for v, t in zip(given, texts, strict=True)],
        dtype=object,
    )


_GRID_STEP = 0.005
_THRESHOLD_GRID = np.round(np.arange(0.025, 0.9901, _GRID_STEP), 4)


def _error_curve(y: np.ndarray, proba: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores ascending, cumulative scam weight, cumulative legit weight): sorted once, read at
    any thresholds by :func:`_errors_at`."""
    order = np.argsort(proba)
    y_sorted, w_sorted = y[order], w[order]
    return proba[order], np.cumsum(w_sorted * (y_sorted == 1)), np.cumsum(w_sorted * (y_sorted == 0))


def _errors_at(
    curve: tuple[np.ndarray, np.ndarray, np.ndarray], thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(missed scam weight, false-alarm weight) at each threshold (rows below it are called legit)."""
    p_sorted, scam_w, legit_w = curve
    below = np.searchsorted(p_sorted, thresholds, side="left")
    missed = np.where(below > 0, scam_w[below - 1], 0.0)
    true_negatives = np.where(below > 0, legit_w[below - 1], 0.0)
    return missed, legit_w[-1] - true_negatives


def _middle_of_cheapest(cost: np.ndarray, thresholds: np.ndarray) -> float:
    """Among equal lowest costs, the middle of the longest contiguous run of them: stable, and
    never a point between two runs whose own cost is higher."""
    at_min = np.flatnonzero(cost <= cost.min() + 1e-12 * max(1.0, abs(float(cost.min()))))
    runs = np.split(at_min, np.flatnonzero(np.diff(at_min) != 1) + 1)
    best = thresholds[max(runs, key=len)]
    return float(np.round((best.min() + best.max()) / 2, 4))


def choose_thresholds(
    y: np.ndarray,
    proba: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    miss_cost: float = 1.0,
    suspicious_recall: float = 0.95,
    smoothing: float = THRESHOLD_SMOOTHING,
) -> tuple[float, float]:
    """Choose the scam threshold by cost and the suspicious threshold by a recall target.

    The scam threshold minimises ``miss_cost * missed_scams + false_alarms`` (weighted), averaged
    over thresholds within ``smoothing`` (0 to 0.5) of it (see ``THRESHOLD_SMOOTHING``; below half
    the 0.005 grid step, the raw minimum over the scores themselves); the suspicious threshold is the highest score at or
    below it whose recall reaches ``suspicious_recall``.

    >>> choose_thresholds(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.6, 0.9]))
    (0.5025, 0.5)
    >>> choose_thresholds(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.6, 0.9]), smoothing=0)
    (0.55, 0.5)
    """
    y = np.asarray(y)
    proba = np.asarray(proba, dtype=np.float64)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if not 0 <= smoothing <= 0.5:  # also refuses NaN
        raise ValueError(f"smoothing must be between 0 and 0.5, got {smoothing!r}.")
    candidates = np.unique(np.concatenate([[0.5], np.round(proba, 4)]))
    candidates = candidates[(candidates > 0.02) & (candidates < 0.995)]
    if len(candidates) == 0:
        return 0.5, 0.5
    curve = _error_curve(y, proba, w)
    missed, false_alarms = _errors_at(curve, candidates)
    half = round(smoothing / _GRID_STEP)  # below half a grid step: the raw minimum
    if half > 0:
        grid_missed, grid_false_alarms = _errors_at(curve, _THRESHOLD_GRID)
        padded = np.pad(miss_cost * grid_missed + grid_false_alarms, half, mode="edge")
        averaged = np.convolve(padded, np.full(2 * half + 1, 1.0 / (2 * half + 1)), mode="valid")
        scam_threshold = _middle_of_cheapest(averaged, _THRESHOLD_GRID)
    else:
        scam_threshold = _middle_of_cheapest(miss_cost * missed + false_alarms, candidates)
    recall = 1.0 - missed / max(curve[1][-1], 1e-12)
    ok = (recall >= suspicious_recall) & (candidates <= scam_threshold)
    suspicious = float(candidates[ok].max()) if ok.any() else float(candidates.min())
    return scam_threshold, min(suspicious, scam_threshold)


def _labels_to_int(y: Any) -> np.ndarray:
    out = []
    for value in y:
        label = normalise_label(value)
        if label is None:
            raise ValueError(f"Unknown label {value!r}; expected scam/legit, 1/0 or true/false.")
        out.append(1 if label == LABEL_SCAM else 0)
    return np.asarray(out, dtype=np.int64)


#: Held-out folds are fitted in worker processes when the feature matrix has this many
#: non-zeros (about 2,000 call transcripts); below it, in threads.
PROCESS_FOLDS_NNZ = 2_000_000


#: Iteration cap of the linear fits (scikit-learn's lbfgs and the sign-constrained solve alike), and
#: why their default tolerance (``config.FIT_TOL``, ``ScamClassifier(tol=...)``, on the projected
#: gradient) is 1e-6. scikit-learn's default, 1e-4 (scamclf's until 0.25.0), stopped the final fit
#: on the bundled corpus up to 0.12 in probability (0.002 on average) from the optimum, at a point
#: that arithmetic details moved (with 0.25.0's float32 products, weights equal to 1e-15 moved a
#: row's score by up to 0.045; float32 or float64 products gave the default model scam thresholds
#: 0.440 and 0.435). At 1e-6 the fit reaches the optimum (1e-7 stops at the same iteration; float32
#: and float64 products give the same default model), for about 3x the iterations of the final fit
#: and 1.5x the training time (measured 2026-12-06/07; benchmarks/README.md, ``fit_noise.py``).
FIT_MAX_ITER = 500


def _fit_linear(
    X: sp.csr_matrix,
    y: np.ndarray,
    w: np.ndarray,
    C: float,
    random_state: int,
    signs: np.ndarray | None = None,
    tol: float | None = None,
) -> LogisticRegression:
    """Fit the weighted L2 logistic regression; with ``signs``, keep each coefficient's sign.

    ``signs`` holds +1 (the coefficient may not be negative), -1 (not positive) or 0 (free) per
    column. Without signs this is scikit-learn's lbfgs fit. With them, the same objective is
    minimised by one bounded L-BFGS-B run (scipy's, as scikit-learn uses it, to the same
    tolerance) with a bound at zero on each signed column: the optimum of the constrained problem
    (it is convex), where a column held at its bound weighs exactly zero. ``tol``: the stopping
    tolerance of both (``FIT_TOL`` when None).
    """
    tol = FIT_TOL if tol is None else tol
    # lbfgs: liblinear's Newton steps crawl on wide character features with uneven sample weights.
    clf = LogisticRegression(C=C, solver="lbfgs", max_iter=FIT_MAX_ITER, tol=tol, random_state=random_state)
    if signs is None or not signs.any():
        return clf.fit(X, y, sample_weight=w)
    coef, intercept, n_iter = _bounded_logistic(sp.csr_matrix(X), y, w, C, signs, tol)
    # A fitted LogisticRegression like any other (pickles, scores and explains the same way).
    clf.classes_ = np.array([0, 1])
    clf.coef_ = coef.reshape(1, -1)
    clf.intercept_ = np.array([intercept])
    clf.n_features_in_ = X.shape[1]
    clf.n_iter_ = np.array([n_iter], dtype=np.int32)
    return clf


def _bounded_logistic(
    X: sp.csr_matrix, y: np.ndarray, w: np.ndarray, C: float, signs: np.ndarray, tol: float | None = None
) -> tuple[np.ndarray, float, int]:
    """Minimise scikit-learn's weighted L2 logistic loss with sign bounds; (coef, intercept, iterations).

    The objective is scikit-learn's for ``LogisticRegression(C=C)``, divided by the weights' sum
    as scikit-learn does so that its tolerances mean the same: mean weighted log-loss plus
    ``|coef|^2 / (2 C sum(w))``, the intercept unpenalised.
    """
    from scipy.optimize import Bounds, minimize
    from scipy.special import expit

    y = np.asarray(y, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    total = w.sum()
    scaled = w / total
    l2 = 1.0 / (C * total)
    n = X.shape[1]
    # Products in double precision (one copy of a float32 matrix per fit, not one per call): in
    # float32 the loss is too coarse for FIT_TOL, and the line search stopped on rounding
    # (ABNORMAL) on small problems; scikit-learn's lbfgs also fits in float64.
    X = X.astype(np.float64, copy=False)

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef = theta[:n]
        z = X @ coef + theta[n]
        loss = float(scaled @ (np.logaddexp(0.0, z) - y * z)) + 0.5 * l2 * float(coef @ coef)
        residual = scaled * (expit(z) - y)
        grad = np.empty_like(theta)
        grad[:n] = X.T @ residual
        grad[:n] += l2 * coef
        grad[n] = residual.sum()
        return loss, grad

    lower = np.r_[np.where(signs > 0, 0.0, -np.inf), -np.inf]
    upper = np.r_[np.where(signs < 0, 0.0, np.inf), np.inf]
    result = minimize(
        loss_and_grad,
        np.zeros(n + 1),  # as scikit-learn starts
        jac=True,
        method="L-BFGS-B",
        bounds=Bounds(lower, upper),
        options={
            "maxiter": FIT_MAX_ITER,
            "maxls": 50,
            "gtol": FIT_TOL if tol is None else tol,  # as _fit_linear's
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    if not result.success:  # as scikit-learn's own fit does when lbfgs stops short
        from sklearn.exceptions import ConvergenceWarning

        warnings.warn(
            f"The sign-constrained fit did not converge ({result.message}); raise FIT_MAX_ITER or scale the data.",
            ConvergenceWarning,
            stacklevel=3,
        )
    coef = result.x[:n].copy()
    coef[coef * signs < 0] = 0.0  # bounds hold exactly in L-BFGS-B; this only guards the claim
    return coef, float(result.x[n]), int(result.nit)


def balanced_group_folds(
    groups: np.ndarray,
    n_splits: int,
    random_state: int | np.random.RandomState | None = None,
    *,
    strata: Any = None,
    shuffle: bool = True,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row indices of ``n_splits`` folds over ``groups``: the groups in a random
    order, each into the fold with the fewest rows so far. ``shuffle=False`` takes them largest
    first, in ``GroupKFold``'s order (its folds exactly when no two groups have the same size, and
    with scikit-learn 1.9, whose sort keeps ties in order, always), which evens the folds out best
    but always groups the same way; a random order groups differently each time, with less even
    folds (on the bundled corpus with its in-domain strata, 1,800 to 12,200 held-out rows per fold
    against 3,700 to 10,000), never leaving a fold empty.

    ``strata`` (one value per row; a group takes its largest) places the groups stratum by
    stratum, highest first, each into the fold holding the fewest rows of its own stratum (then
    the fewest rows): a stratum's groups spread over the folds, so with at most ``n_splits`` groups
    in a stratum no fold holds out two of them. ``ScamClassifier`` passes the in-domain boost
    (``domain_weight``), so that no held-out fit loses most of the in-domain data at once.

    >>> [test.tolist() for _, test in balanced_group_folds(np.array(list("aabbcd")), 2, 0)]
    [[2, 3, 4], [0, 1, 5]]
    >>> groups = np.array(list("aaaabbcd"))  # c and d share a fold, as in GroupKFold ...
    >>> [test.tolist() for _, test in balanced_group_folds(groups, 2, shuffle=False)]
    [[0, 1, 2, 3], [4, 5, 6, 7]]
    >>> domain = [1, 1, 1, 1, 1, 1, 6, 6]  # ... unless they form a stratum of their own
    >>> [test.tolist() for _, test in balanced_group_folds(groups, 2, shuffle=False, strata=domain)]
    [[0, 1, 2, 3, 7], [4, 5, 6]]
    """
    groups = np.asarray(groups)
    names, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if not 2 <= n_splits <= len(names):
        raise ValueError(f"n_splits must be between 2 and the number of groups ({len(names)}), got {n_splits}.")
    if shuffle:
        order = check_random_state(random_state).permutation(len(names))
    else:
        order = np.argsort(sizes, kind="stable")[::-1]  # GroupKFold's order
    if strata is None:
        level = np.zeros(len(names))
    else:
        strata = np.asarray(strata, dtype=np.float64)
        if strata.shape != groups.shape:
            raise ValueError(f"strata must hold one value per row: {len(groups)} rows, got shape {strata.shape}.")
        if not np.isfinite(strata).all():
            raise ValueError("strata must be finite in every row; NaN or inf found.")
        level = np.full(len(names), -np.inf)
        np.maximum.at(level, inverse, strata)
    load = np.zeros(n_splits, dtype=np.int64)
    fold_of = np.full(len(names), -1, dtype=np.int64)
    for stratum in np.unique(level)[::-1]:
        in_stratum = np.zeros(n_splits, dtype=np.int64)
        for g in order[level[order] == stratum]:
            # Fewest rows of this stratum first, then fewest rows (lexsort: last key first).
            fold_of[g] = int(np.lexsort((np.arange(n_splits), load, in_stratum))[0])
            load[fold_of[g]] += sizes[g]
            in_stratum[fold_of[g]] += sizes[g]
    row_fold = fold_of[inverse]
    return [(np.flatnonzero(row_fold != k), np.flatnonzero(row_fold == k)) for k in range(n_splits)]


def _fold_key(test: np.ndarray) -> bytes:
    """A held-out fold's identity: its test rows (the same rows held out means the same fit)."""
    return np.sort(test).tobytes()


def _assignment_key(splits: list[tuple[np.ndarray, np.ndarray]]) -> frozenset[bytes]:
    return frozenset(_fold_key(test) for _, test in splits)


MAX_SOURCE_OFFSET = 100.0


def _source_columns(groups: np.ndarray, scale: float) -> sp.csr_matrix:
    """One column per source, ``scale`` on that source's rows: each source's own intercept."""
    names, codes = np.unique(groups, return_inverse=True)
    rows = np.arange(len(groups))
    values = np.full(len(groups), scale, dtype=np.float32)
    return sp.csr_matrix((values, (rows, codes)), shape=(len(groups), len(names)))


def _decision(model: LogisticRegression, X: sp.csr_matrix, n_scored: int | None = None) -> np.ndarray:
    """The linear decision on ``X``; with ``n_scored``, from its first ``n_scored`` columns only."""
    if n_scored is None or n_scored == X.shape[1]:
        return model.decision_function(X)
    return np.asarray(X[:, :n_scored] @ model.coef_[0, :n_scored]).ravel() + model.intercept_[0]


def _fit_and_score(X, y, w, train, test, C, random_state, signs=None, record=False, tol=None, n_scored=None):
    """Fit on the ``train`` rows and return (test, their decision, warnings); without ``train``,
    (None, the model, warnings). ``n_scored``: the test decision uses only the first columns
    (the per-source columns of ``source_offset`` are fitted, never scored).

    With ``record`` (in a worker process, whose warnings would otherwise be lost), the fit's
    warnings are returned as (message, category) for the parent to raise; else they are raised.
    """
    # Only in a worker process: catch_warnings swaps global state, which threads would share.
    with warnings.catch_warnings(record=True) if record else nullcontext() as caught:
        if record:
            warnings.simplefilter("always")
        if train is None:
            out: Any = _fit_linear(X, y, w, C, random_state, signs, tol)
        else:
            fitted = _fit_linear(X[train], y[train], w[train], C, random_state, signs, tol)
            out = _decision(fitted, X[test], n_scored)
    return test, out, [(str(c.message), c.category) for c in caught or []]


class ScamClassifier(ClassifierMixin, BaseEstimator):
    """Flag scam calls from transcripts: TF-IDF + lexicon features, calibrated logistic regression.

    Parameters
    ----------
    features : ScamFeatures or None
        The feature builder; ``None`` uses ``ScamFeatures()`` defaults.
    C : float
        Inverse L2 regularisation strength of the logistic regression.
    miss_cost : float
        Cost of a missed scam in false alarms; sets the scam threshold on held-out folds.
    suspicious_recall : float
        Recall target on held-out folds that sets the lower, ``suspicious`` threshold.
    threshold_smoothing : float
        Half-width of the moving average over the held-out cost curve before the scam threshold
        is chosen at its minimum (``THRESHOLD_SMOOTHING``, 0.08); 0 takes the raw minimum, which
        on held-out sources jumps around a nearly flat curve.
    cv : int
        Folds for held-out scores when no ``groups`` are given; with ``groups`` (sources), whole
        sources are held out (see ``max_group_folds``), so thresholds reflect unseen sources.
    max_group_folds : int
        At most this many held-out folds over ``groups`` (sources share folds beyond it). Six,
        as in the cross-source benchmark that measures the model (until 0.7.0: 16, nearly one
        fold per source: 10 more fits, and not the setting the accuracy figures were measured with).
    threshold_repeats : int
        With ``groups``, how many different assignments of sources to those folds score every
        row; the calibration and both thresholds are chosen on all of their held-out scores
        together (up to ``threshold_repeats`` times the fold fits). Which sources happen to share
        a fold moves a threshold chosen on one assignment (standard deviation 0.038 over seven
        assignments of the 0.17.0 bundled corpus: 0.495 to 0.600); the first plus two random ones
        bring that to 0.013 (0.500 to 0.545 over fifteen such triples).
        The first assignment places the sources largest first, each into the fold with fewest
        rows (scikit-learn's ``GroupKFold``); the others place them the same way in a random order
        (``random_state``; :func:`balanced_group_folds`), not in equal numbers per fold as
        ``GroupKFold(shuffle=True)`` does, which would hold out far more rows in some folds. With
        ``domain_weight``, the boosted sources are placed first, spread over the folds, in every
        assignment: by size alone, 120 more rows once put three of the four Macau sources in one
        fold, whose fit then scored them with only the Chinese Macau calls as in-domain data and
        moved both thresholds (benchmarks/README.md). Sizes still decide where the other sources go.
        An assignment equal to an earlier one (few sources) is dropped; ``oof_proba_`` holds the
        first one's scores, ``oof_proba_repeats_`` every one's.
    min_sources : int
        With ``groups``, keep only n-grams that occur in at least this many sources: feature
        selection against source-identifying vocabulary (lexicon cues are always kept).
    balance_sources : bool
        Weight rows so that no single source, language or class dominates (see
        :func:`source_weights`); when False, only the two classes are balanced (and, with
        ``domain_weight``, the two classes within each domain).
    random_split_eval : bool
        Also score a random 20% of rows with a model fitted on the rest (``random_split_proba_``).
    n_jobs : int or None
        Parallel work in training: the feature blocks, the final fit, the random split and the
        held-out folds (processes on large data, threads on small). ``None``: joblib's active
        configuration (one job unless the caller set ``joblib.parallel_config``).
    random_state : int
        Seed for the solver and the fold assignment.
    cue_signs : bool
        Keep each lexicon feature's weight on the side of its documented polarity: a scam cue
        (and a pair of them) never counts towards legit, a genuine-caller cue (a warning, the
        customer's own request) never towards scam. N-gram weights are free.
    source_offset : float
        With ``groups``, every linear fit also gets one column per training source, worth
        ``source_offset`` on that source's rows and free in sign: each source its own intercept.
        What a whole source has in common (a corpus of robocalls is all scam, a corpus of
        bank-app questions all legit) can then go to that column instead of to the n-grams of the
        source's genre ("press one", "i want to"), which would flag or clear unseen calls by
        their genre. The columns are dropped from the final model and never scored (a new call
        has no source); held-out scores, calibration and thresholds are computed without them.
        The larger the value, the cheaper such an offset is under the L2 penalty and the more
        it absorbs; 0 (the default) adds no columns. Needs at least two sources (with fewer than
        three, held-out scores come from stratified folds, not from held-out sources). At most
        ``MAX_SOURCE_OFFSET`` (100); training holds a second copy of the feature matrix.
    tol : float
        Stopping tolerance of every linear fit (on the projected gradient of scikit-learn's
        scaled objective; ``FIT_TOL``, 1e-6). A looser one (scikit-learn's 1e-4, scamclf's until
        0.25.0) stops short of the optimum at a point that arithmetic details move: 0.24.0 and
        0.25.0, with weights equal up to rounding, scored rows up to 0.26 apart.

    Attributes
    ----------
    classes_ : ndarray of str
        ``["legit", "scam"]``.
    threshold_, suspicious_threshold_ : float
        Probability thresholds for the ``scam`` and ``suspicious`` verdicts.
    oof_proba_ : ndarray
        Calibrated held-out probability of every training row (the first assignment of sources
        to folds; without ``groups``, the stratified folds).
    oof_proba_repeats_ : ndarray of shape (n_assignments, n_samples)
        The same for every assignment of sources to folds (``threshold_repeats``; one row without
        ``groups``); the training report averages its per-source metrics over them. Saved with
        the model (3 x 8 bytes per training row: 0.8 MB for the bundled corpus); absent from
        models saved before 0.32.0.
    type_classes_ : ndarray of str
        Scam types the type head can assign.

    Examples
    --------
    >>> texts = ["transfer your savings to the safe account now", "see you at dinner tonight"] * 10
    >>> clf = ScamClassifier(features=ScamFeatures(min_df=1), cv=2).fit(texts, ["scam", "legit"] * 10)
    >>> clf.predict(["move your money to a safe account"]).tolist()
    ['scam']
    """

    def __init__(
        self,
        *,
        features: ScamFeatures | None = None,
        C: float = 2.0,
        miss_cost: float = 1.0,
        suspicious_recall: float = 0.95,
        cv: int = 5,
        max_group_folds: int = 6,
        threshold_repeats: int = 3,
        min_sources: int = 2,
        balance_sources: bool = True,
        random_split_eval: bool = True,
        n_jobs: int | None = None,
        random_state: int = 0,
        cue_signs: bool = True,
        threshold_smoothing: float = THRESHOLD_SMOOTHING,
        source_offset: float = 0.0,
        tol: float = FIT_TOL,
    ) -> None:
        self.features = features
        self.C = C
        self.miss_cost = miss_cost
        self.suspicious_recall = suspicious_recall
        self.cv = cv
        self.max_group_folds = max_group_folds
        self.threshold_repeats = threshold_repeats
        self.min_sources = min_sources
        self.balance_sources = balance_sources
        self.random_split_eval = random_split_eval
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.cue_signs = cue_signs
        self.threshold_smoothing = threshold_smoothing
        self.source_offset = source_offset
        self.tol = tol

    # --- fitting ---------------------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        groups: Any = None,
        lang: Any = None,
        scam_type: Any = None,
        domain_weight: Any = None,
        sample_weight: Any = None,
    ) -> ScamClassifier:
        """Fit on raw transcripts ``X`` and labels ``y`` (scam/legit, 1/0 or booleans).

        ``groups`` names the source of each row (used for weighting and held-out folds);
        ``lang`` its language (classes are balanced within each language; rows without one
        count by script, CJK or Latin); ``scam_type`` a taxonomy id for scam rows (the type head);
        ``domain_weight`` a multiplier per row for the data closest to deployment, with scam and
        legit kept balanced within it (``boost`` of :func:`source_weights`: rows of a language
        sharing one exact value form a domain; ``scamclf train`` passes
        ``scamclf.api.in_domain_weights(sources)``); ``sample_weight`` multiplies the result as it is.
        """
        if not (0 < self.suspicious_recall <= 1):
            raise ValueError(f"suspicious_recall must be in (0, 1], got {self.suspicious_recall!r}.")
        if self.miss_cost <= 0:
            raise ValueError(f"miss_cost must be positive, got {self.miss_cost!r}.")
        if not (0 <= self.threshold_smoothing <= 0.5):
            raise ValueError(f"threshold_smoothing must be in [0, 0.5], got {self.threshold_smoothing!r}.")
        if isinstance(self.source_offset, bool) or not (
            isinstance(self.source_offset, numbers.Real) and 0 <= self.source_offset <= MAX_SOURCE_OFFSET
        ):
            raise ValueError(
                f"source_offset must be a number from 0 to {MAX_SOURCE_OFFSET}, got {self.source_offset!r}."
            )
        if not (isinstance(self.tol, numbers.Real) and 0 < self.tol < 1):
            raise ValueError(f"tol must be a number in (0, 1), got {self.tol!r}.")
        if isinstance(self.threshold_repeats, bool) or not isinstance(self.threshold_repeats, numbers.Integral):
            raise ValueError(f"threshold_repeats must be a whole number, got {self.threshold_repeats!r}.")
        if self.threshold_repeats < 1:
            raise ValueError(f"threshold_repeats must be at least 1, got {self.threshold_repeats!r}.")
        texts = list(X)
        y_int = _labels_to_int(y)
        if len(texts) != len(y_int):
            raise ValueError(f"X has {len(texts)} rows but y has {len(y_int)}.")
        if len(np.unique(y_int)) < 2:
            raise ValueError("Training needs both scam and legit rows; y holds one class only.")
        groups_arr = None if groups is None else np.asarray([str(g) for g in groups])
        if self.source_offset and (groups_arr is None or len(np.unique(groups_arr)) < 2):
            raise ValueError(
                "source_offset gives each source its own intercept and needs at least two sources in groups; "
                f"got {0 if groups_arr is None else len(np.unique(groups_arr))}."
            )
        if self.balance_sources:
            weights = source_weights(y_int, groups_arr, row_languages(texts, lang), boost=domain_weight)
        else:
            weights = source_weights(y_int, None, boost=domain_weight)
        if sample_weight is not None:
            weights = weights * np.asarray(sample_weight, dtype=np.float64)

        # Explanation caches belong to the fitted vocabulary: a refit starts them afresh.
        self._names_cache = None
        self.__dict__.pop("_fixed_phrases", None)
        self.__dict__.pop("_seen_names", None)
        self.features_ = clone(self.features) if self.features is not None else ScamFeatures()
        # The feature blocks are built side by side; n_jobs=None keeps joblib's own configuration.
        with parallel_config(n_jobs=self.n_jobs) if self.n_jobs is not None else nullcontext():
            Xf = self.features_.fit_transform(texts)
        self.n_features_in_ = 1
        self.feature_mask_ = self._source_shared_columns(Xf, groups_arr)
        if self.feature_mask_ is not None:
            Xf = Xf[:, self.feature_mask_]

        signs = self._cue_signs(Xf.shape[1])
        # One BLAS thread for every fit, wherever it runs: joblib's worker processes use one, and
        # a fit in this process with two stopped L-BFGS elsewhere (measured on the bundled corpus:
        # n_jobs=1 and n_jobs=2 gave thresholds 0.465 and 0.460), so a model depended on n_jobs.
        with threadpool_limits(limits=1):
            self.linear_, decisions, split = self._linear_fits(Xf, y_int, weights, groups_arr, signs, domain_weight)
        # Every assignment's held-out scores count for each row: calibration and thresholds see
        # each row once per assignment, its weight shared among them (the calibrator's fixed
        # regularisation then weighs as much as with one assignment).
        repeats = len(decisions)
        stacked = np.concatenate(decisions).reshape(-1, 1)
        y_stacked, w_stacked = np.tile(y_int, repeats), np.tile(weights, repeats) / repeats
        self.calibrator_ = LogisticRegression(C=1e4, solver="lbfgs").fit(stacked, y_stacked, sample_weight=w_stacked)
        self.oof_proba_repeats_ = np.vstack([self.calibrator_.predict_proba(d.reshape(-1, 1))[:, 1] for d in decisions])
        self.oof_proba_ = self.oof_proba_repeats_[0]
        self.oof_groups_ = groups_arr
        self.threshold_, self.suspicious_threshold_ = choose_thresholds(
            y_stacked,
            self.calibrator_.predict_proba(stacked)[:, 1],
            sample_weight=w_stacked,
            miss_cost=self.miss_cost,
            suspicious_recall=self.suspicious_recall,
            smoothing=self.threshold_smoothing,
        )
        # A stratified 20% of rows scored by a model fitted on the rest (for the metrics file).
        self.random_split_index_ = self.random_split_proba_ = None
        if split is not None:
            self.random_split_index_, split_decision = split
            self.random_split_proba_ = self.calibrator_.predict_proba(split_decision.reshape(-1, 1))[:, 1]
        self.classes_ = np.array([LABEL_LEGIT, LABEL_SCAM], dtype=object)
        self._fit_type_head(Xf, y_int, scam_type, groups_arr)
        return self

    def _linear_fits(
        self,
        Xf: sp.csr_matrix,
        y: np.ndarray,
        w: np.ndarray,
        groups: np.ndarray | None,
        signs: np.ndarray | None,
        strata: Any = None,
    ) -> tuple[LogisticRegression, list[np.ndarray], tuple[np.ndarray, np.ndarray] | None]:
        """Every linear fit of training, run side by side: (final model, held-out decisions, random split).

        The held-out decision of each row comes from a fit without its source (or its fold), once
        per assignment of sources to folds (``threshold_repeats``; one without groups); the random
        split is (test rows, their decision), or None when not asked for or too few rows.
        ``strata`` (the in-domain boost) spreads the boosted sources over the folds in every
        assignment (:func:`balanced_group_folds`).
        """
        assignments: list[list[tuple[np.ndarray, np.ndarray]]] = []
        if groups is not None and len(np.unique(groups)) >= 3:
            n_splits = min(len(np.unique(groups)), self.max_group_folds)
            assignments.append(balanced_group_folds(groups, n_splits, shuffle=False, strata=strata))
            rng = check_random_state(self.random_state)
            seen = {_assignment_key(assignments[0])}
            for _ in range(1, self.threshold_repeats):
                candidate = balanced_group_folds(groups, n_splits, rng, strata=strata)
                key = _assignment_key(candidate)
                if key not in seen:
                    seen.add(key)
                    assignments.append(candidate)
        else:
            skf = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
            assignments.append(list(skf.split(Xf, y)))
        # Per-source columns (``source_offset``): fitted in every fit, scored in none.
        n_scored = Xf.shape[1]
        if groups is not None and self.source_offset > 0:
            Xf = sp.hstack([Xf, _source_columns(groups, self.source_offset)], format="csr", dtype=Xf.dtype)
            if signs is not None:
                signs = np.concatenate([signs, np.zeros(Xf.shape[1] - n_scored)])
        # A fold whose training part holds one class only cannot be fitted; its rows fall back
        # to a stratified split so that every row still gets a held-out score.
        tasks: list[tuple[np.ndarray | None, np.ndarray | None]] = [(None, None)]  # the final fit: every row
        if self.random_split_eval and min(np.bincount(y, minlength=2)) >= 5:
            from sklearn.model_selection import train_test_split

            tasks.append(
                tuple(train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=self.random_state))
            )
        # A fold that several assignments share (the same sources held out) is fitted once.
        folds: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        for splits in assignments:
            for tr, te in splits:
                if len(np.unique(y[tr])) == 2:
                    folds.setdefault(_fold_key(te), (tr, te))
        # Processes, not threads: the solver holds the GIL for much of its work (measured: two
        # threads fit two folds no faster than one). On small data, starting processes and
        # sending them the matrix would cost more than the fits themselves. The final fit is
        # one more task in the same pool (first: it is the longest), not a serial step before it.
        prefer = "processes" if Xf.nnz >= PROCESS_FOLDS_NNZ else "threads"
        record = prefer == "processes"
        results = Parallel(n_jobs=self.n_jobs, prefer=prefer)(
            delayed(_fit_and_score)(Xf, y, w, tr, te, self.C, self.random_state, signs, record, self.tol, n_scored)
            for tr, te in tasks + list(folds.values())
        )
        for message, category in dict.fromkeys(m for *_, caught in results for m in caught):
            warnings.warn(message, category, stacklevel=4)  # once each, as the default filter would
        if prefer == "processes":
            # joblib keeps its worker processes (each holding a copy of the matrix) for minutes
            # in case of more work: none is coming, so give their memory back now.
            from joblib.externals.loky import get_reusable_executor

            get_reusable_executor().shutdown(wait=True)
        final = results[0][1]
        if n_scored < Xf.shape[1]:
            final.coef_ = final.coef_[:, :n_scored].copy()
            final.n_features_in_ = n_scored
        split = results[1][:2] if len(tasks) == 2 else None
        scored = {key: scores for key, (_, scores, _) in zip(folds, results[len(tasks) :], strict=True)}
        decisions = []
        fallback: np.ndarray | None = None
        for splits in assignments:
            decision = np.full(len(y), np.nan)
            for _, te in splits:
                key = _fold_key(te)
                if key in scored:
                    decision[folds[key][1]] = scored[key]
            missing = np.isnan(decision)
            if missing.any():
                if fallback is None:
                    fallback = self._stratified_decision(Xf, y, w, signs, n_scored)
                decision[missing] = fallback[missing]
            decisions.append(decision)
        return final, decisions, split

    def _stratified_decision(
        self, Xf: sp.csr_matrix, y: np.ndarray, w: np.ndarray, signs: np.ndarray | None, n_scored: int | None = None
    ) -> np.ndarray:
        """Held-out decision of every row from stratified folds (for rows no source fold can score)."""
        decision = np.empty(len(y))
        for tr, te in StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state).split(Xf, y):
            fitted = _fit_linear(Xf[tr], y[tr], w[tr], self.C, self.random_state, signs, self.tol)
            decision[te] = _decision(fitted, Xf[te], n_scored)
        return decision

    def _fit_type_head(self, Xf, y, scam_type, groups) -> None:
        self.type_classes_ = np.array(["other"], dtype=object)
        self.type_linear_ = None
        if scam_type is None:
            return
        types = np.asarray(["" if t is None else str(t) for t in scam_type], dtype=object)
        rows = (y == 1) & np.isin(types, SCAM_TYPES)
        if rows.sum() == 0 or len(np.unique(types[rows])) < 2:
            if rows.any():
                self.type_classes_ = np.unique(types[rows])
            return
        # One-vs-rest liblinear: fast on wide sparse features, unlike multinomial solvers; balanced
        # so that the many generated Chinese rows of a few types do not swamp rarer types.
        self.type_linear_ = OneVsRestClassifier(
            LogisticRegression(
                C=self.C, solver="liblinear", class_weight="balanced", max_iter=1000, random_state=self.random_state
            )
        )
        self.type_linear_.fit(Xf[rows], types[rows])
        self.type_classes_ = self.type_linear_.classes_

    # --- prediction ------------------------------------------------------------------------------

    def _first_cue_column(self, n_columns: int) -> int | None:
        """Index of the first lexicon column (they come last, all kept by the feature mask)."""
        lexicon = self.features_.lexicon_
        return None if lexicon is None else n_columns - len(lexicon.feature_names)

    def _cue_signs(self, n_columns: int) -> np.ndarray | None:
        """Allowed sign of each column's weight (see ``cue_signs``)."""
        first = self._first_cue_column(n_columns)
        if not self.cue_signs or first is None:
            return None
        polarity = self.features_.lexicon_.polarity
        signs = np.zeros(n_columns, dtype=np.float64)
        signs[first:] = [
            -1.0 if polarity.get(name) == "legit" else 1.0 for name in self.features_.lexicon_.feature_names
        ]
        return signs

    def _source_shared_columns(self, Xf: sp.csr_matrix, groups: np.ndarray | None) -> np.ndarray | None:
        """Indices of the n-gram columns seen in at least ``min_sources`` sources (cues always kept).

        An n-gram that only one corpus uses can teach nothing but that corpus's identity.
        """
        if groups is None or self.min_sources <= 1 or len(np.unique(groups)) < self.min_sources:
            return None
        seen = np.zeros(Xf.shape[1], dtype=np.int64)
        for g in np.unique(groups):
            seen += np.asarray((Xf[groups == g] != 0).sum(axis=0)).ravel() > 0
        keep = seen >= self.min_sources
        lexicon = self.features_.lexicon_
        if lexicon is not None:
            keep[-len(lexicon.feature_names) :] = True
        return np.flatnonzero(keep)

    def transform_features(self, X: Any) -> sp.csr_matrix:
        """Return the feature matrix of raw transcripts ``X`` (only the columns the model uses)."""
        return self.transform_normalised([normalise_text(t) for t in as_texts(X)])

    def transform_normalised(self, normalised: list[str]) -> sp.csr_matrix:
        """As :meth:`transform_features`, for texts already passed through ``normalise_text``."""
        check_is_fitted(self, "linear_")
        Xf = self.features_.transform_normalised(normalised)
        return Xf if self.feature_mask_ is None else Xf[:, self.feature_mask_]

    def decision_function(self, X: Any) -> np.ndarray:
        """Return the uncalibrated linear score of each transcript."""
        return self.linear_.decision_function(self.transform_features(X))

    def _proba_from_features(self, Xf: sp.csr_matrix) -> np.ndarray:
        decision = self.linear_.decision_function(Xf)
        return self.calibrator_.predict_proba(decision.reshape(-1, 1))[:, 1]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Return calibrated probabilities, columns ordered as ``classes_`` (legit, scam)."""
        p = self._proba_from_features(self.transform_features(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any, threshold: float | None = None) -> np.ndarray:
        """Return ``"scam"`` or ``"legit"`` at the fitted threshold (or ``threshold``)."""
        t = self.threshold_ if threshold is None else threshold
        return np.where(self.predict_proba(X)[:, 1] >= t, LABEL_SCAM, LABEL_LEGIT).astype(object)

    def predict_type_from_features(self, Xf: sp.csr_matrix) -> np.ndarray:
        """Return the scam type (taxonomy id) the type head gives each feature row."""
        if self.type_linear_ is None:
            return np.full(Xf.shape[0], self.type_classes_[0], dtype=object)
        return self.type_linear_.predict(Xf).astype(object)

    def verdicts(self, proba: np.ndarray, threshold: float | None = None) -> np.ndarray:
        """Map probabilities to ``scam`` / ``suspicious`` / ``legit``."""
        t = self.threshold_ if threshold is None else threshold
        s = self.flag_floor(t)
        return np.where(proba >= t, "scam", np.where(proba >= s, "suspicious", "legit")).astype(object)

    def flag_floor(self, threshold: float | None = None) -> float:
        """The lowest probability not called ``legit`` (the suspicious threshold, capped at the scam one)."""
        return min(self.suspicious_threshold_, self.threshold_ if threshold is None else threshold)

    # --- explanations ----------------------------------------------------------------------------

    def explain_features(
        self, texts: list[str], Xf: sp.csr_matrix, top_k: int = 5, *, normalised: list[str] | None = None
    ) -> list[list[tuple[str, float]]]:
        """Return, per transcript, the phrases whose features pushed its score up most.

        Contributions are feature value times coefficient on *this* transcript (not global
        weights), mapped back to words of the (normalised) text and merged per phrase. The
        number of distinct scam cue kinds, a symmetric function of the cues present, is shared
        equally among those cues (its exact Shapley split). Pass
        ``normalised`` (``normalise_text`` of each text) when you have it, to save the work.
        """
        check_is_fitted(self, "linear_")
        coef = self.linear_.coef_.ravel().astype(np.float32)
        names = self._feature_names()
        # The phrase of a word n-gram without digits does not depend on the text: remember it.
        fixed: dict[int, str | None] = self.__dict__.setdefault("_fixed_phrases", {})
        # Other features' names, as they come up (slicing one from the vocabulary costs more
        # than looking it up); bounded, so a long run cannot grow it without limit.
        seen: dict[int, str] = self.__dict__.setdefault("_seen_names", {})
        Xf = sp.csr_matrix(Xf)
        contrib = Xf.data * coef[Xf.indices]  # each feature's contribution, in Xf's layout
        kinds_column, scam_columns = self._cue_columns(Xf.shape[1])
        positive = np.concatenate([[0], np.cumsum(contrib > 0, dtype=np.int64)])
        out: list[list[tuple[str, float]]] = []
        for i in range(Xf.shape[0]):
            start, end = Xf.indptr[i], Xf.indptr[i + 1]
            if positive[end] == positive[start]:
                out.append([])
                continue
            idx, val = Xf.indices[start:end], contrib[start:end]
            at = np.flatnonzero(idx == kinds_column)  # empty without a cue-kinds column
            if at.size:
                present = np.isin(idx, scam_columns)
                val = val.copy()
                val[present] += val[at[0]] / max(present.sum(), 1)
                val[at[0]] = 0.0
            keep = val > 0
            idx, val = idx[keep], val[keep]
            order = np.argsort(-val)[: top_k * 4]
            text = normalise_text(texts[i]) if normalised is None else normalised[i]
            phrases: dict[str, float] = {}
            for j, weight in zip(idx[order].tolist(), val[order].tolist(), strict=True):
                if j in fixed:
                    phrase = fixed[j]
                else:
                    name = seen.get(j)
                    if name is None:
                        if len(seen) >= _NAME_CACHE_LIMIT:
                            seen.clear()
                        name = seen[j] = names[j]
                    phrase = self._phrase_for(name, text)
                    if name.startswith("w:") and "0" not in name[2:].split(" "):
                        fixed[j] = phrase
                if phrase:
                    phrases[phrase] = phrases.get(phrase, 0.0) + weight
            merged = sorted(_fold_subphrases(phrases).items(), key=lambda kv: -kv[1])
            out.append([(p, round(w, 3)) for p, w in merged[:top_k]])
        return out

    def _cue_columns(self, n_columns: int) -> tuple[int | None, np.ndarray]:
        """Column of the scam-cue-kinds feature and the columns of the scam cues it counts."""
        first = self._first_cue_column(n_columns)
        lexicon = self.features_.lexicon_
        if first is None or "scam_cue_kinds" not in lexicon.feature_names:
            return None, np.empty(0, dtype=np.int64)
        scam = [first + k for k, c in enumerate(lexicon.cues) if lexicon.polarity[c] == "scam"]
        return first + lexicon.feature_names.index("scam_cue_kinds"), np.asarray(scam, dtype=np.int64)

    def _feature_names(self) -> FeatureNames:
        if getattr(self, "_names_cache", None) is None:
            self._names_cache = FeatureNames(self.features_, self.feature_mask_)
        return self._names_cache

    def _phrase_for(self, name: str, normalised: str) -> str | None:
        kind, _, value = name.partition(":")
        if kind == "w":
            if "0" in value.split(" "):
                return _expand_digits(value, normalised)
            return _join_tokens(value)
        if kind == "c":
            return _word_around(value, normalised)
        if kind == "lex":
            lexicon = self.features_.lexicon_
            cue = value.split("&")[0]
            if lexicon is None or cue not in lexicon.cues:
                return None
            span = lexicon.first_span(normalised, cue)
            return normalised[span[0] : span[1]].strip() if span else None
        return None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_names_cache", None)
        state.pop("_fixed_phrases", None)
        state.pop("_seen_names", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Models saved before ``cue_signs`` existed were fitted without the constraint.
        state.setdefault("cue_signs", False)
        # ... and before ``threshold_smoothing``, with the raw minimum (0.9.0 and earlier).
        state.setdefault("threshold_smoothing", 0.0)
        # ... and before ``threshold_repeats``, on one assignment of sources to folds (0.17.0 and earlier).
        state.setdefault("threshold_repeats", 1)
        # ... and before ``tol``, to scikit-learn's default tolerance (0.25.0 and earlier).
        state.setdefault("tol", 1e-4)
        # ... and before ``source_offset``, without per-source columns (0.30.0 and earlier).
        state.setdefault("source_offset", 0.0)
        super().__setstate__(state)


_NAME_CACHE_LIMIT = 20_000
_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _fold_subphrases(phrases: dict[str, float]) -> dict[str, float]:
    """Fold a phrase into a longer one that contains it ("laundering" into "money laundering").

    One cue should read as one piece of evidence, with the weight of all its parts. Containment
    is whole-word for Latin text and substring for CJK text.

    >>> _fold_subphrases({"money laundering": 0.5, "laundering": 0.2, "is": 0.1, "this": 0.1})
    {'money laundering': 0.7, 'is': 0.1, 'this': 0.1}
    """
    out: dict[str, float] = {}
    homes: list[tuple[str, str]] = []  # phrases not folded into another, padded with spaces
    joined = ""  # the same, joined by NUL (normalised text has none): one test rules most out
    for phrase in sorted(phrases, key=len, reverse=True):
        needle = phrase if _is_cjk(phrase) else f" {phrase} "
        home = next((longer for longer, text in homes if needle in text), None) if needle in joined else None
        if home is None:
            homes.append((phrase, f" {phrase} "))
            joined += f"\x00 {phrase} "
        key = home or phrase
        out[key] = round(out.get(key, 0.0) + phrases[phrase], 6)
    return {p: out[p] for p in phrases if p in out}


@lru_cache(maxsize=1 << 16)
def _is_cjk(phrase: str) -> bool:
    return _CJK_CHAR.search(phrase) is not None


def _join_tokens(ngram: str) -> str:
    """Join a word n-gram back into text: CJK characters without spaces."""
    parts = ngram.split(" ")
    text = parts[0]
    for part in parts[1:]:
        both_cjk = _CJK_CHAR.fullmatch(text[-1:] or "") and _CJK_CHAR.fullmatch(part[:1] or "")
        text += part if both_cjk else " " + part
    return text


@lru_cache(maxsize=1 << 16)
def _digits_pattern(ngram: str) -> re.Pattern[str]:
    number = rf"(?:\d+|{SPOKEN_NUMBER_PATTERN})"
    return re.compile(r"\s*".join(number if p == "0" else re.escape(p) for p in ngram.split(" ")))


def _expand_digits(ngram: str, normalised: str) -> str:
    """Show the real number behind a masked ``0`` token when the text has one (or spells one out)."""
    match = _digits_pattern(ngram).search(normalised)
    return match.group(0) if match else _join_tokens(ngram)


@lru_cache(maxsize=1 << 16)
def _fragment_pattern(fragment: str) -> re.Pattern[str]:
    # char_wb n-grams keep the word-boundary space: " ac" starts a word, so it must not be
    # credited to "place".
    pattern = re.escape(fragment.strip()).replace("0", r"\d+")
    if fragment.startswith(" "):
        pattern = r"(?<!\S)" + pattern
    if fragment.endswith(" "):
        pattern += r"(?!\S)"
    return re.compile(pattern)


def _word_around(fragment: str, normalised: str) -> str | None:
    """Return the word (or short CJK stretch) of ``normalised`` that contains ``fragment``."""
    if not fragment.strip():
        return None
    match = _fragment_pattern(fragment).search(normalised)
    if match is None:
        return None
    start, end = match.span()
    if _is_cjk(fragment):  # CJK text has no spaces between words: the fragment itself
        return normalised[start:end]
    while start > 0 and not normalised[start - 1].isspace():
        start -= 1
    while end < len(normalised) and not normalised[end].isspace():
        end += 1
    return normalised[start:end]
