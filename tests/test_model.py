import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from scamclf.features import ScamFeatures
from scamclf.model import THRESHOLD_SMOOTHING, ScamClassifier, choose_thresholds, source_weights


def _fit(corpus, **params):
    clf = ScamClassifier(features=ScamFeatures(min_df=1), **params)
    return clf.fit(corpus["text"], corpus["label"], groups=corpus["source"], scam_type=corpus["scam_type"])


def test_classifier_follows_estimator_conventions(corpus):
    clf = ScamClassifier(C=0.5, miss_cost=2.0)
    assert clone(clf).get_params()["C"] == 0.5
    with pytest.raises(NotFittedError):
        clf.predict_proba(["hello"])
    fitted = _fit(corpus)
    assert fitted.classes_.tolist() == ["legit", "scam"]
    assert not hasattr(clf, "linear_")


def test_classifier_is_deterministic(corpus):
    a = _fit(corpus).predict_proba(corpus["text"])
    b = _fit(corpus).predict_proba(corpus["text"])
    np.testing.assert_array_equal(a, b)


def test_classifier_separates_training_calls(corpus):
    clf = _fit(corpus)
    proba = clf.predict_proba(corpus["text"])[:, 1]
    y = (corpus["label"] == "scam").to_numpy()
    assert proba[y].mean() > proba[~y].mean() + 0.2
    assert 0 < clf.suspicious_threshold_ <= clf.threshold_ < 1
    assert len(clf.oof_proba_) == len(corpus)


def test_classifier_refuses_bad_parameters_and_labels(corpus):
    with pytest.raises(ValueError, match="suspicious_recall"):
        ScamClassifier(suspicious_recall=0).fit(corpus["text"], corpus["label"])
    with pytest.raises(ValueError, match="one class only"):
        ScamClassifier().fit(["a", "b"], ["scam", "scam"])
    with pytest.raises(ValueError, match="Unknown label"):
        ScamClassifier().fit(["a", "b"], ["scam", "maybe"])
    for tol in (0, -1e-6, 1.0, float("nan"), "1e-6", None, True):
        with pytest.raises(ValueError, match="tol must be"):
            ScamClassifier(tol=tol).fit(corpus["text"], corpus["label"])


def test_type_head_predicts_taxonomy_ids(corpus):
    clf = _fit(corpus)
    types = clf.predict_type_from_features(clf.transform_features(["your parcel has drugs customs officer"]))
    assert types[0] in set(corpus["scam_type"])


def test_explanations_point_at_words_of_the_transcript(corpus):
    clf = _fit(corpus)
    text = "Officer here: your IC was used for money laundering, move savings to a SAFE ACCOUNT."
    evidence = clf.explain_features([text], clf.transform_features([text]))[0]
    assert evidence, "a scam script must have evidence"
    lowered = text.lower()
    for phrase, weight in evidence:
        assert weight > 0
        assert all(word in lowered for word in phrase.split())


def test_source_weights_balance_sources_and_classes():
    y = np.array([1] * 100 + [0] * 10 + [0] * 400)
    groups = np.array(["big"] * 100 + ["small"] * 10 + ["huge"] * 400)
    w = source_weights(y, groups)
    assert w[y == 1].sum() == pytest.approx(w[y == 0].sum())
    assert w[groups == "huge"].sum() / w[groups == "small"].sum() == pytest.approx(np.sqrt(40), rel=1e-6)


def test_source_weights_balance_classes_within_each_language():
    y = np.array([1] * 90 + [0] * 10 + [1] * 5 + [0] * 50)
    lang = np.array(["zh"] * 100 + ["en"] * 55)
    w = source_weights(y, None, lang)
    for code in ("zh", "en"):
        rows = lang == code
        assert w[rows & (y == 1)].sum() == pytest.approx(w[rows & (y == 0)].sum())
    assert w[lang == "zh"].sum() == pytest.approx(w[lang == "en"].sum())


def test_source_weights_boost_a_domain_without_tipping_its_classes():
    # English: a public part (1 scam, 5 legit) and a boosted domain (2 scams, 2 legit), mixed
    # differently so that a per-language balance alone would leave each domain tipped; Malay: a
    # boosted domain holding scams only, rebalanced against the public Malay legit row.
    y = np.array([1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0])
    lang = np.array(["en"] * 10 + ["ms"] * 3)
    boost = np.array([1, 1, 1, 1, 1, 1, 6, 6, 6, 6, 6, 6, 1.0])
    plain = source_weights(y, None, lang)
    w = source_weights(y, None, lang, boost=boost)
    for rows in (boost == 6) & (lang == "en"), (boost == 1) & (lang == "en"), lang == "ms":
        assert w[rows & (y == 1)].sum() == pytest.approx(w[rows & (y == 0)].sum())
    # Each domain keeps the total the boost gave it.
    for rows in (boost == 6) & (lang == "en"), (boost == 1) & (lang == "en"):
        assert w[rows].sum() == pytest.approx((plain * boost)[rows].sum())
    np.testing.assert_array_equal(source_weights(y, None, lang, boost=np.ones(len(y))), plain)
    np.testing.assert_array_equal(source_weights(y, None, lang, boost=list(boost)), w)
    for bad in (
        np.ones(3),
        np.r_[np.ones(12), 0.0],
        np.r_[np.ones(12), -1.0],
        np.r_[np.ones(12), np.nan],
        np.r_[np.ones(12), np.inf],
    ):
        with pytest.raises(ValueError, match="domain_weight"):
            source_weights(y, None, lang, boost=bad)


def test_fit_trains_with_the_domain_weight(monkeypatch):
    seen = {}

    class Stop(Exception):
        pass

    def spy(self, Xf, y, w, *args, **kwargs):
        seen["w"] = w
        raise Stop

    monkeypatch.setattr(ScamClassifier, "_linear_fits", spy)
    texts = [f"call {i} about the bank" for i in range(12)]
    y = np.array([1, 0, 0, 0, 1, 0] * 2)
    boost = np.array([6.0] * 6 + [1.0] * 6)
    with pytest.raises(Stop):
        ScamClassifier(features=ScamFeatures(min_df=1)).fit(texts, y, lang=["en"] * 12, domain_weight=boost)
    np.testing.assert_array_equal(seen["w"], source_weights(y, None, np.array(["en"] * 12), boost=boost))
    # Without source balancing the classes still balance within each domain; sample_weight multiplies after.
    extra = np.linspace(1, 2, 12)
    with pytest.raises(Stop):
        ScamClassifier(features=ScamFeatures(min_df=1), balance_sources=False).fit(
            texts, y, domain_weight=boost, sample_weight=extra
        )
    w = seen["w"] / extra
    for rows in boost == 6, boost == 1:
        assert w[rows & (y == 1)].sum() == pytest.approx(w[rows & (y == 0)].sum())


def test_script_of_tells_cjk_from_latin():
    from scamclf.model import script_of

    assert script_of("喂你好我是公安局") == "cjk"
    assert script_of("selamat pagi encik") == "latin"
    assert script_of("") == "latin"


def test_choose_thresholds_prefers_recall_when_misses_cost_more():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.3, 0.55, 0.5, 0.7, 0.9])
    cheap, _ = choose_thresholds(y, p, miss_cost=0.5)
    costly, _ = choose_thresholds(y, p, miss_cost=10)
    assert costly <= 0.5 < cheap
    scam_t, suspicious_t = choose_thresholds(y, p, suspicious_recall=1.0)
    assert suspicious_t <= 0.5 and suspicious_t <= scam_t


def test_refit_explains_with_the_new_vocabulary(corpus):
    clf = _fit(corpus)
    clf.explain_features(["safe account"], clf.transform_features(["safe account"]))
    texts = ["zebra quokka pay ringgit now"] * 6 + ["hello dinner tonight friend"] * 6
    clf.fit(texts, ["scam"] * 6 + ["legit"] * 6)
    evidence = clf.explain_features(["zebra quokka pay"], clf.transform_features(["zebra quokka pay"]))[0]
    assert evidence and all(word in "zebra quokka pay" for phrase, _ in evidence for word in phrase.split())


def test_smoothed_threshold_varies_less_between_samples_than_the_raw_minimum():
    # Held-out scores of two overlapping classes: the cost is flat near its minimum and bumpy,
    # so its raw minimum jumps from sample to sample; the smoothed one stays near the middle.
    raw, smoothed = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        p = np.concatenate([rng.beta(2, 4, 100), rng.beta(4, 2, 100)])
        y = np.repeat([0, 1], 100)
        raw.append(choose_thresholds(y, p, smoothing=0)[0])
        scam_t, suspicious_t = choose_thresholds(y, p)
        assert suspicious_t <= scam_t
        smoothed.append(scam_t)
    assert np.std(smoothed) < 0.7 * np.std(raw)
    assert abs(np.mean(smoothed) - 0.5) < 0.02  # the classes cross at 0.5: no bias
    for bad in (-0.1, 0.9, float("nan")):
        with pytest.raises(ValueError, match="smoothing"):
            choose_thresholds(y, p, smoothing=bad)
    # Below half a grid step the smoothing has nothing to average: the raw minimum, on the scores.
    assert choose_thresholds(y, p, smoothing=0.001) == choose_thresholds(y, p, smoothing=0)


def test_threshold_smoothing_is_a_parameter_and_old_models_keep_the_raw_minimum(corpus):
    clf = _fit(corpus)
    assert clf.get_params()["threshold_smoothing"] == THRESHOLD_SMOOTHING
    state = clf.__getstate__()
    state.pop("threshold_smoothing")
    old = ScamClassifier.__new__(ScamClassifier)
    old.__setstate__(state)
    assert old.threshold_smoothing == 0.0
    with pytest.raises(ValueError, match="threshold_smoothing"):
        ScamClassifier(threshold_smoothing=0.9).fit(["a b", "c d", "e f", "g h"], [1, 0, 1, 0])


def test_fit_chooses_its_threshold_with_its_own_smoothing(corpus, monkeypatch):
    import scamclf.model as model

    seen = []
    real = model.choose_thresholds
    monkeypatch.setattr(model, "choose_thresholds", lambda *a, **k: seen.append(k["smoothing"]) or real(*a, **k))
    _fit(corpus, threshold_smoothing=0.0)
    _fit(corpus)
    assert seen == [0.0, THRESHOLD_SMOOTHING]


def test_threshold_is_never_between_two_cheaper_runs():
    scam_t, _ = choose_thresholds(np.array([1, 0, 1, 0]), np.array([0.2, 0.4, 0.6, 0.8]))
    assert scam_t != 0.4


def _fold_reference(phrases):
    # The plain quadratic version: each phrase goes into the first longer kept phrase holding it.
    from scamclf.model import _is_cjk

    out, padded = {}, {}
    for phrase in sorted(phrases, key=len, reverse=True):
        needle = phrase if _is_cjk(phrase) else f" {phrase} "
        home = next((longer for longer, text in padded.items() if needle in text), None)
        if home is None:
            padded[phrase] = f" {phrase} "
        key = home or phrase
        out[key] = round(out.get(key, 0.0) + phrases[phrase], 6)
    return {p: out[p] for p in phrases if p in out}


_PHRASES = ["money", "money laundering", "laundering", "洗钱", "钱", "安全账户", "账户", "safe", "a safe account"]


@given(
    st.dictionaries(st.sampled_from([*_PHRASES, "account", "safe account", "is", "this", "ney"]), st.floats(0.01, 2.0))
)
def test_fold_subphrases_equals_the_plain_version(phrases):
    from scamclf.model import _fold_subphrases

    assert _fold_subphrases(phrases) == _fold_reference(phrases)


def test_held_out_folds_in_processes_equal_threads(corpus, monkeypatch):
    import scamclf.model as model_module

    texts, y, groups = corpus["text"].tolist(), corpus["label"].tolist(), corpus["source"].tolist()
    clf = ScamClassifier(features=ScamFeatures(min_df=1), n_jobs=2, random_split_eval=False)
    threads = clone(clf).fit(texts, y, groups=groups)
    monkeypatch.setattr(model_module, "PROCESS_FOLDS_NNZ", 0)
    used = []

    def spy(*args, **kwargs):
        used.append(kwargs.get("prefer"))
        return real(*args, **kwargs)

    real = model_module.Parallel
    monkeypatch.setattr(model_module, "Parallel", spy)
    processes = clone(clf).fit(texts, y, groups=groups)
    assert used == ["processes"]
    import psutil

    # The fold workers are gone (joblib's resource trackers stay for the life of the process).
    workers = [p for p in psutil.Process().children(recursive=True) if "LokyProcess" in " ".join(p.cmdline())]
    assert not workers
    np.testing.assert_array_equal(threads.oof_proba_, processes.oof_proba_)
    assert (threads.threshold_, threads.suspicious_threshold_) == (
        processes.threshold_,
        processes.suspicious_threshold_,
    )


def test_sign_constrained_fit_keeps_each_weight_on_its_side():
    import scipy.sparse as sp

    from scamclf.model import _fit_linear

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    free = rng.normal(size=400) + 2.0 * y  # predicts scam
    against = rng.normal(size=400) - 1.5 * y  # predicts legit, but may not count towards it
    helper = rng.normal(size=400) - 1.0 * y  # predicts legit and may
    X = sp.csr_matrix(np.column_stack([free, against, helper]))
    w = np.ones(400)
    plain = _fit_linear(X, y, w, 1.0, 0)
    assert plain.coef_[0, 1] < 0
    signs = np.array([0.0, 1.0, -1.0])
    constrained = _fit_linear(X, y, w, 1.0, 0, signs)
    assert constrained.coef_[0, 1] == 0.0
    assert constrained.coef_[0, 0] > 0 and constrained.coef_[0, 2] < 0
    assert (constrained.coef_[0] * signs >= 0).all()
    # The constrained optimum's conditions (to the solver's tolerance, on scikit-learn's scaled
    # objective): free and off-bound columns have no gradient, a column held at zero has its
    # gradient pointing away from the side it is allowed.
    z = constrained.decision_function(X)
    residual = w * (1 / (1 + np.exp(-z)) - y) / w.sum()
    gradient = X.T @ residual + constrained.coef_[0] / (1.0 * w.sum())
    at_bound = constrained.coef_[0] == 0
    assert at_bound.tolist() == [False, True, False]
    assert np.abs(gradient[~at_bound]).max() < 1e-3
    assert (gradient[at_bound] * signs[at_bound] > 0).all()
    assert abs(residual.sum()) < 1e-3  # the intercept's gradient


def _objective(clf, X, y, w, C):
    """scikit-learn's L2 logistic objective: C * weighted log-loss + |coef|^2 / 2."""
    return _objective_of(clf.coef_[0], clf.intercept_[0], X, y, w, C)


def _objective_of(coef, intercept, X, y, w, C):
    z = X @ coef + intercept
    return C * float(w @ (np.logaddexp(0.0, z) - y * z)) + 0.5 * float(coef @ coef)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bounded_solver_minimises_sklearns_objective(dtype):
    import scipy.sparse as sp

    from scamclf.model import _bounded_logistic, _fit_linear

    rng = np.random.default_rng(1)
    X = sp.random(300, 40, density=0.2, format="csr", dtype=dtype, random_state=1)
    y = (np.asarray(X[:, :5].sum(axis=1)).ravel() + rng.normal(scale=0.3, size=300) > 0.5).astype(int)
    w = rng.uniform(0.1, 5.0, 300)
    plain = _fit_linear(X, y, w, 2.0, 0)
    # No bound binds (all free; then each on the free optimum's own side), from zero: the
    # solver must reach scikit-learn's optimum, so it minimises the same objective.
    for signs in (np.zeros(40), np.sign(plain.coef_[0])):
        coef, intercept, _ = _bounded_logistic(X, y, w, 2.0, signs)
        assert _objective_of(coef, intercept, X, y, w, 2.0) == pytest.approx(_objective(plain, X, y, w, 2.0), rel=1e-5)
        np.testing.assert_allclose(X @ coef + intercept, plain.decision_function(X), atol=2e-2)


def test_linear_fits_reach_the_optimum_not_just_near_it(monkeypatch):
    # Where L-BFGS stops short of the optimum depends on rounding, so a loose tolerance made two
    # fits on weights equal to 1e-15 score rows up to 0.26 apart. Both solvers must land within
    # a small distance (in decision units) of an optimum solved to 1e-12, signed or not. With
    # scikit-learn's default tolerance (1e-4) this problem stops 0.02 away.
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    import scamclf.model as model_module
    from scamclf.model import _bounded_logistic, _fit_linear

    rng = np.random.default_rng(3)
    n, d = 1500, 4000
    X = normalize(sp.random(n, d, density=0.01, format="csr", dtype=np.float64, random_state=3))
    beta = rng.normal(size=d) * (rng.random(d) < 0.05)
    y = ((X @ beta) * 8 + rng.normal(size=n) > 0).astype(int)
    w = rng.uniform(0.2, 3.0, n)
    signs = np.where(rng.random(d) < 0.1, np.sign(beta + 1e-9), 0.0)
    for s in (np.zeros(d), signs):
        fitted = _fit_linear(X, y, w, 2.0, 0, s).decision_function(X)
        with monkeypatch.context() as m:
            m.setattr(model_module, "FIT_TOL", 1e-12)
            m.setattr(model_module, "FIT_MAX_ITER", 100_000)
            coef, intercept, _ = _bounded_logistic(X, y, w, 2.0, s)
        assert np.abs(fitted - (X @ coef + intercept)).max() < 2e-3


def test_sign_constrained_fit_warns_when_it_stops_short(monkeypatch):
    import scipy.sparse as sp
    from sklearn.exceptions import ConvergenceWarning

    import scamclf.model as model_module

    rng = np.random.default_rng(2)
    X = sp.csr_matrix(rng.normal(size=(200, 5)))
    y = (X[:, 0].toarray().ravel() > 0).astype(int)
    monkeypatch.setattr(model_module, "FIT_MAX_ITER", 1)
    with pytest.warns(ConvergenceWarning, match="sign-constrained fit did not converge"):
        model_module._fit_linear(X, y, np.ones(200), 1.0, 0, np.array([1.0, 0, 0, 0, -1.0]))


def test_warnings_of_fits_in_worker_processes_reach_the_caller(corpus, monkeypatch):
    from sklearn.exceptions import ConvergenceWarning

    import scamclf.model as model_module

    # Worker processes would not see a patched module, so run the workers' code path (record the
    # warnings, hand them back) in this process; the caller must raise each one.
    fit_and_score = model_module._fit_and_score
    monkeypatch.setattr(model_module, "_fit_and_score", lambda *a: fit_and_score(*a[:8], True, *a[9:]))
    monkeypatch.setattr(model_module, "FIT_MAX_ITER", 1)
    with pytest.warns(ConvergenceWarning, match="sign-constrained fit did not converge"):
        _fit(corpus, n_jobs=1)


def test_pooled_fits_land_where_they_belong(corpus):
    from sklearn.model_selection import train_test_split

    with_split = _fit(corpus, n_jobs=2)
    without = _fit(corpus, random_split_eval=False)
    # The final model is the fit on every row, whatever else shares the pool with it.
    np.testing.assert_array_equal(with_split.linear_.coef_, without.linear_.coef_)
    np.testing.assert_array_equal(with_split.oof_proba_, without.oof_proba_)
    assert without.random_split_index_ is None and without.random_split_proba_ is None
    rows = np.arange(len(corpus))
    y = (corpus["label"] == "scam").to_numpy().astype(int)
    _, test = train_test_split(rows, test_size=0.2, stratify=y, random_state=0)
    np.testing.assert_array_equal(with_split.random_split_index_, test)
    assert with_split.random_split_proba_.shape == test.shape


def test_cue_weights_follow_their_documented_polarity(corpus):
    clf = _fit(corpus)
    lexicon = clf.features_.lexicon_
    coef = clf.linear_.coef_[0, -len(lexicon.feature_names) :]
    for name, weight in zip(lexicon.feature_names, coef, strict=True):
        if lexicon.polarity.get(name) == "legit":
            assert weight <= 0, name
        else:
            assert weight >= 0, name
    assert clf.get_params()["cue_signs"] is True


def test_models_saved_before_cue_signs_load_unconstrained(corpus):
    import pickle

    clf = _fit(corpus, cue_signs=False)
    state = clf.__getstate__()
    del state["cue_signs"]
    old = ScamClassifier.__new__(ScamClassifier)
    old.__setstate__(state)
    assert old.get_params()["cue_signs"] is False
    again = pickle.loads(pickle.dumps(old))
    np.testing.assert_array_equal(again.predict_proba(corpus["text"][:5]), clf.predict_proba(corpus["text"][:5]))


def test_cue_kinds_contribution_is_shared_among_the_cues_present(corpus):
    clf = _fit(corpus)
    text = "this is the police, transfer your savings to a safe account"
    Xf = clf.transform_features([text])
    kinds, scam_columns = clf._cue_columns(Xf.shape[1])
    clf.linear_.coef_ = np.zeros_like(clf.linear_.coef_)
    clf.linear_.coef_[0, kinds] = 1.0
    row = Xf.toarray()[0]
    present = [c for c in scam_columns if row[c] > 0]
    assert len(present) >= 2
    evidence = dict(clf.explain_features([text], Xf, top_k=10)[0])
    assert "safe account" in evidence
    assert sum(evidence.values()) == pytest.approx(row[kinds], abs=1e-3)
    assert len(set(evidence.values())) == 1  # an equal share each


def test_evidence_shows_the_number_behind_a_masked_digit_written_or_spelt():
    from scamclf.model import _expand_digits

    assert _expand_digits("call 0", "please call 997 now") == "call 997"
    assert _expand_digits("call 0", "please call nine nine seven now") == "call nine nine seven"
    assert _expand_digits("拨打 0", "请拨打六二二二") == "拨打六二二二"
    assert _expand_digits("call 0", "call one lady") == "call 0"  # no number: the n-gram itself
    assert _expand_digits("0 now", "someone two three now pay 500 now") == "500 now"  # not inside "someone"


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_threshold_repeats_must_be_a_positive_whole_number(corpus, bad):
    with pytest.raises(ValueError, match="threshold_repeats"):
        _fit(corpus, threshold_repeats=bad)


def _spy_fits(monkeypatch):
    import scamclf.model as model_module

    seen: dict[str, list] = {"fits": [], "thresholds": [], "linear": []}
    real_fit, real_choose = model_module._fit_and_score, model_module.choose_thresholds
    real_linear = ScamClassifier._linear_fits

    def fit(X, y, w, train, test, *args, **kwargs):
        seen["fits"].append(None if test is None else tuple(test))
        return real_fit(X, y, w, train, test, *args, **kwargs)

    def choose(y, proba, **kwargs):
        seen["thresholds"].append(len(y))
        return real_choose(y, proba, **kwargs)

    def linear(self, Xf, y, w, groups, signs, strata=None):
        out = real_linear(self, Xf, y, w, groups, signs, strata)
        seen["linear"].append(((Xf, y, w, groups, signs), out[1]))
        seen.setdefault("strata", []).append(strata)
        return out

    monkeypatch.setattr(model_module, "_fit_and_score", fit)
    monkeypatch.setattr(model_module, "choose_thresholds", choose)
    monkeypatch.setattr(ScamClassifier, "_linear_fits", linear)
    return seen


def _six_sources(corpus):
    return corpus.assign(source=[f"s{i % 6}" for i in range(len(corpus))])


def test_thresholds_see_every_assignment_of_sources_to_folds(corpus, monkeypatch):
    from sklearn.model_selection import GroupKFold
    from sklearn.utils import check_random_state

    from scamclf.model import _fit_linear, balanced_group_folds

    data = _six_sources(corpus)  # six sources in three folds: assignments can differ
    seen = _spy_fits(monkeypatch)
    clf = ScamClassifier(
        features=ScamFeatures(min_df=1), max_group_folds=3, threshold_repeats=3, random_split_eval=False
    )
    clf.fit(data["text"], data["label"], groups=data["source"])
    (Xf, y, w, groups, signs), decisions = seen["linear"][0]
    assert seen["thresholds"] == [len(decisions) * len(data)] and len(decisions) >= 2
    held_out = [t for t in seen["fits"] if t is not None]
    assert len(held_out) == len(set(held_out))  # no fold fitted twice
    # Each assignment's scores sit on the right rows: refit every fold by hand and compare.
    rng = check_random_state(clf.random_state)
    expected = [list(GroupKFold(n_splits=3).split(Xf, y, groups))]
    while len(expected) < len(decisions):
        candidate = balanced_group_folds(groups, 3, rng)
        if {tuple(te) for _, te in candidate} not in [{tuple(te) for _, te in a} for a in expected]:
            expected.append(candidate)
    for splits, decision in zip(expected, decisions, strict=True):
        for tr, te in splits:
            ref = _fit_linear(Xf[tr], y[tr], w[tr], clf.C, clf.random_state, signs).decision_function(Xf[te])
            np.testing.assert_allclose(decision[te], ref, rtol=0, atol=1e-12)
    assert not np.array_equal(decisions[0], decisions[1])
    assert len(clf.oof_proba_) == len(data) and 0 < clf.suspicious_threshold_ <= clf.threshold_ < 1
    # Every assignment's calibrated held-out scores are kept; the first is oof_proba_.
    assert clf.oof_proba_repeats_.shape == (len(decisions), len(data))
    np.testing.assert_array_equal(clf.oof_proba_repeats_[0], clf.oof_proba_)
    calibrated = clf.calibrator_.predict_proba(decisions[1].reshape(-1, 1))[:, 1]
    np.testing.assert_allclose(clf.oof_proba_repeats_[1], calibrated, rtol=0, atol=1e-12)

    seen = _spy_fits(monkeypatch)
    one = ScamClassifier(
        features=ScamFeatures(min_df=1), max_group_folds=3, threshold_repeats=1, random_split_eval=False
    )
    one.fit(data["text"], data["label"], groups=data["source"])
    assert seen["thresholds"] == [len(data)] and len([t for t in seen["fits"] if t is not None]) == 3
    np.testing.assert_array_equal(seen["linear"][0][1][0], decisions[0])  # the first assignment is unchanged


def test_repeats_change_nothing_when_every_assignment_is_the_same(corpus, monkeypatch):
    # Three sources in three folds: every assignment holds out one source per fold.
    seen = _spy_fits(monkeypatch)
    three = _fit(corpus, threshold_repeats=3, random_split_eval=False)
    assert len([t for t in seen["fits"] if t is not None]) == 3 and len(seen["linear"][0][1]) == 1
    one = _fit(corpus, threshold_repeats=1, random_split_eval=False)
    assert (three.threshold_, three.suspicious_threshold_) == (one.threshold_, one.suspicious_threshold_)
    np.testing.assert_array_equal(three.oof_proba_, one.oof_proba_)


def _one_class_sources(corpus):
    """Two scam-only and four legit-only sources: some fold assignments leave a fold's training part one class."""
    scam = (corpus["label"] == "scam").to_numpy()
    return corpus.assign(
        source=np.where(scam, [f"S{i % 2}" for i in range(len(corpus))], [f"L{i % 4}" for i in range(len(corpus))])
    )


def test_a_fold_left_with_one_class_is_scored_by_stratified_folds(corpus, monkeypatch):
    # Scam-only and legit-only sources: some assignments put every scam source in one fold,
    # whose training part then holds legit rows only.
    data = _one_class_sources(corpus)
    seen = _spy_fits(monkeypatch)
    clf = ScamClassifier(
        features=ScamFeatures(min_df=1), max_group_folds=3, threshold_repeats=4, random_split_eval=False
    )
    clf.fit(data["text"], data["label"], groups=data["source"])
    (Xf, y, w, groups, signs), decisions = seen["linear"][0]
    fallback = clf._stratified_decision(Xf, y, w, signs)
    one_class = 0
    for decision in decisions:
        assert not np.isnan(decision).any()
        one_class += int(np.isclose(decision[groups == "S0"], fallback[groups == "S0"]).all())
    assert one_class >= 1  # at least one assignment held both scam sources out together


def test_balanced_group_folds_cover_every_row_once():
    from scamclf.model import balanced_group_folds

    groups = np.array(["a"] * 50 + ["b"] * 5 + ["c"] * 5 + ["d"] * 30 + ["e"] * 10)
    for seed in range(5):
        folds = balanced_group_folds(groups, 3, seed)
        tests = np.concatenate([te for _, te in folds])
        assert sorted(tests.tolist()) == list(range(len(groups))) and all(len(te) for _, te in folds)
        for tr, te in folds:
            assert not set(groups[tr]) & set(groups[te])
    with pytest.raises(ValueError, match="n_splits"):
        balanced_group_folds(groups, 6)


def test_balanced_group_folds_in_size_order_are_group_k_fold():
    from sklearn.model_selection import GroupKFold

    from scamclf.model import balanced_group_folds

    rng = np.random.default_rng(0)
    for _ in range(50):
        # Groups of different sizes: scikit-learn before 1.9 orders same-size groups differently.
        sizes = rng.choice(np.arange(1, 40), size=int(rng.integers(3, 10)), replace=False)
        groups = rng.permutation(np.repeat([f"g{i}" for i in range(len(sizes))], sizes))
        k = int(rng.integers(2, len(sizes) + 1))
        ours = balanced_group_folds(groups, k, shuffle=False)
        theirs = list(GroupKFold(n_splits=k).split(groups, groups=groups))
        assert [te.tolist() for _, te in ours] == [te.tolist() for _, te in theirs]


def test_balanced_group_folds_spread_the_top_stratum_over_the_folds():
    from scamclf.model import balanced_group_folds

    # Four small boosted groups among large plain ones: by size alone some share a fold.
    names = ["big1", "big2", "big3", "big4", "mid", "m_en", "m_zh", "m_ms", "m_x"]
    groups = np.repeat(names, [400, 300, 250, 200, 120, 60, 50, 30, 20])
    boost = np.where(np.char.startswith(groups, "m_"), 6.0, 1.0)
    plain = balanced_group_folds(groups, 6, shuffle=False)
    assert max(len({g for g in set(groups[te]) if g.startswith("m_")}) for _, te in plain) >= 2
    for folds in [balanced_group_folds(groups, 6, shuffle=False, strata=boost)] + [
        balanced_group_folds(groups, 6, seed, strata=boost) for seed in range(20)
    ]:
        tests = np.concatenate([te for _, te in folds])
        assert sorted(tests.tolist()) == list(range(len(groups))) and all(len(te) for _, te in folds)
        assert all(len({g for g in set(groups[te]) if g.startswith("m_")}) <= 1 for _, te in folds)
    # More boosted groups than folds: as even as they can be.
    folds = balanced_group_folds(groups, 3, shuffle=False, strata=boost)
    assert sorted(len({g for g in set(groups[te]) if g.startswith("m_")}) for _, te in folds) == [1, 1, 2]
    with pytest.raises(ValueError, match="one value per row"):
        balanced_group_folds(groups, 3, strata=boost[:-1])
    with pytest.raises(ValueError, match="finite"):
        balanced_group_folds(groups, 3, strata=np.where(groups == "mid", np.nan, boost))


def test_fit_spreads_the_boosted_sources_over_the_folds(corpus, monkeypatch):
    import scamclf.model as model_module

    # Six sources in three folds, two of them boosted: no assignment holds both out at once.
    data = _six_sources(corpus)
    boost = np.where(data["source"].isin(["s0", "s3"]), 6.0, 1.0)
    real_folds, calls = model_module.balanced_group_folds, []

    def folds(*args, **kwargs):
        calls.append(kwargs)
        return real_folds(*args, **kwargs)

    monkeypatch.setattr(model_module, "balanced_group_folds", folds)
    seen = _spy_fits(monkeypatch)
    clf = ScamClassifier(
        features=ScamFeatures(min_df=1), max_group_folds=3, threshold_repeats=4, random_split_eval=False
    )
    clf.fit(data["text"], data["label"], groups=data["source"], domain_weight=boost)
    np.testing.assert_array_equal(seen["strata"][0], boost)
    # Every assignment (the first in size order, the others at random) is given the boost.
    assert len(calls) == 4 and [c.get("shuffle", True) for c in calls] == [False, True, True, True]
    for c in calls:
        np.testing.assert_array_equal(c["strata"], boost)
    held_out = [set(data["source"].to_numpy()[list(t)]) for t in seen["fits"] if t is not None]
    assert held_out and all(not {"s0", "s3"} <= fold for fold in held_out)


def _saved_without(clf, param):
    """``clf`` as a model saved before ``param`` existed would load."""
    state = clf.__getstate__()
    del state[param]
    old = ScamClassifier.__new__(ScamClassifier)
    old.__setstate__(state)
    return old


def test_models_saved_before_threshold_repeats_load_with_one_assignment(corpus):
    import pickle

    clf = _fit(corpus)
    old = _saved_without(clf, "threshold_repeats")
    assert old.get_params()["threshold_repeats"] == 1
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(old)).predict_proba(["hello"]), clf.predict_proba(["hello"])
    )


def test_models_saved_before_tol_load_with_sklearns_default_tolerance(corpus):
    old = _saved_without(_fit(corpus), "tol")
    assert old.get_params()["tol"] == 1e-4  # what 0.25.0 and earlier fitted with
    assert clone(old).get_params()["tol"] == 1e-4


def test_every_linear_fit_uses_the_classifiers_tolerance(corpus, monkeypatch):
    import scamclf.model as model_module

    tols: list[float | None] = []
    real = model_module._fit_linear

    def spy(*args, **kwargs):
        tols.append(args[6] if len(args) > 6 else kwargs.get("tol"))
        return real(*args, **kwargs)

    seen = _spy_fits(monkeypatch)
    monkeypatch.setattr(model_module, "_fit_linear", spy)
    data = _six_sources(corpus)
    clf = ScamClassifier(features=ScamFeatures(min_df=1), max_group_folds=3, tol=3e-5, n_jobs=1)
    clf.fit(data["text"], data["label"], groups=data["source"])
    assert len(tols) >= 5 and set(tols) == {3e-5}  # the final fit, the random split and the folds
    (Xf, y, w, _, signs), _ = seen["linear"][0]
    tols.clear()
    clf._stratified_decision(Xf, y, w, signs)  # the fallback for folds left with one class
    assert len(tols) == clf.cv and set(tols) == {3e-5}


def test_random_state_none_still_fits_with_groups(corpus):
    data = _six_sources(corpus)
    clf = ScamClassifier(features=ScamFeatures(min_df=1), max_group_folds=3, random_state=None, random_split_eval=False)
    assert 0 < clf.fit(data["text"], data["label"], groups=data["source"]).threshold_ < 1


def test_every_linear_fit_uses_one_blas_thread(corpus, monkeypatch):
    # BLAS with two threads in this process moved where L-BFGS stopped, so n_jobs=1 and n_jobs=2
    # gave different models; every fit now runs with one thread, as in joblib's workers.
    from threadpoolctl import threadpool_info

    import scamclf.model as model_module

    threads: list[int] = []
    real = model_module._fit_linear

    def spy(*args, **kwargs):
        threads.extend(lib["num_threads"] for lib in threadpool_info() if lib.get("user_api") == "blas")
        return real(*args, **kwargs)

    monkeypatch.setattr(model_module, "_fit_linear", spy)
    _fit(corpus, n_jobs=1, random_split_eval=False)
    assert threads and set(threads) == {1}


def _genre_sources():
    """Two single-class sources whose genre words say their label, and two mixed ones that do not."""
    scam = ["transfer your savings to the safe account", "give me the otp to stop the arrest", "pay the fine today"]
    legit = ["see you at dinner tonight", "the meeting moved to friday", "thanks for the lovely gift"]
    texts, labels, sources = [], [], []
    for i in range(24):
        for source, label, lines, genre in (
            ("robo", "scam", scam, "recorded message from the desk "),
            ("chat", "legit", legit, "dude bro lol whatever "),
            ("mixed_a", "scam" if i % 2 else "legit", scam if i % 2 else legit, ""),
            ("mixed_b", "legit" if i % 2 else "scam", legit if i % 2 else scam, ""),
        ):
            texts.append(f"{genre}{lines[i % 3]} number {i}")
            labels.append(label)
            sources.append(source)
    return texts, labels, sources


def test_source_offset_gives_a_single_class_source_its_own_intercept_not_its_genre():
    texts, labels, sources = _genre_sources()
    params = dict(features=ScamFeatures(min_df=1), min_sources=1, random_split_eval=False)
    plain = ScamClassifier(**params).fit(texts, labels, groups=sources)
    offset = ScamClassifier(source_offset=3.0, **params).fit(texts, labels, groups=sources)
    # The columns are fitted, then dropped: the final model scores the features alone.
    assert offset.linear_.coef_.shape[1] == offset.transform_features(["x"]).shape[1] == offset.linear_.n_features_in_
    # What the genre alone says, against an empty call: less with the sources' own intercepts.
    for genre in ("recorded message from the desk", "dude bro lol whatever"):
        pull = [abs(m.decision_function([genre])[0] - m.decision_function([""])[0]) for m in (plain, offset)]
        assert pull[1] < 0.6 * pull[0], (genre, pull)
    # The fraud itself is still what flags a call.
    assert offset.predict(["transfer your savings to the safe account", "see you at dinner tonight"]).tolist() == [
        "scam",
        "legit",
    ]


def test_source_offset_is_never_scored_in_held_out_or_random_split_decisions(corpus, monkeypatch):
    import scamclf.model as model_module

    scored: list[tuple[int, int | None]] = []
    real = model_module._decision

    def spy(model, X, n_scored=None):
        scored.append((X.shape[1], n_scored))
        return real(model, X, n_scored)

    monkeypatch.setattr(model_module, "_decision", spy)
    data = _six_sources(corpus)
    clf = ScamClassifier(features=ScamFeatures(min_df=1), max_group_folds=3, source_offset=0.3, n_jobs=1)
    clf.fit(data["text"], data["label"], groups=data["source"])
    n = clf.linear_.coef_.shape[1]
    assert scored and all(width == n + 6 and n_scored == n for width, n_scored in scored)


def test_source_offset_is_never_scored_in_the_fallback_for_one_class_folds(corpus, monkeypatch):
    from sklearn.model_selection import StratifiedKFold

    import scamclf.model as model_module

    data = _one_class_sources(corpus)
    seen = _spy_fits(monkeypatch)
    clf = ScamClassifier(
        features=ScamFeatures(min_df=1),
        max_group_folds=3,
        threshold_repeats=4,
        random_split_eval=False,
        source_offset=3.0,
    )
    clf.fit(data["text"], data["label"], groups=data["source"])
    (Xf, y, w, groups, signs), _ = seen["linear"][0]
    n = clf.linear_.coef_.shape[1]
    Xa = sp.hstack([Xf, model_module._source_columns(groups, 3.0)], format="csr")
    fitted: list = []
    real = model_module._fit_linear
    monkeypatch.setattr(model_module, "_fit_linear", lambda *a, **k: fitted.append(real(*a, **k)) or fitted[-1])
    fallback = clf._stratified_decision(Xa, y, w, np.concatenate([signs, np.zeros(6)]), n)
    folds = StratifiedKFold(n_splits=clf.cv, shuffle=True, random_state=clf.random_state).split(Xa, y)
    for model, (_, te) in zip(fitted, folds, strict=True):
        assert np.abs(model.coef_[0, n:]).max() > 1e-3  # the sources' own intercepts were fitted ...
        features_alone = np.asarray(Xa[te][:, :n] @ model.coef_[0, :n]).ravel() + model.intercept_[0]
        np.testing.assert_allclose(fallback[te], features_alone, rtol=0, atol=1e-9)  # ... and not scored


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), 1e39, "0.3", None, True])
def test_source_offset_must_be_a_number_from_zero_to_a_hundred(corpus, bad):
    with pytest.raises(ValueError, match="source_offset must be"):
        ScamClassifier(source_offset=bad).fit(corpus["text"], corpus["label"])


def test_source_offset_needs_two_sources(corpus):
    for groups in (None, ["one"] * len(corpus)):
        with pytest.raises(ValueError, match="at least two sources"):
            ScamClassifier(source_offset=0.3).fit(corpus["text"], corpus["label"], groups=groups)


def test_models_saved_before_source_offset_load_without_it(corpus):
    old = _saved_without(_fit(corpus), "source_offset")
    assert old.get_params()["source_offset"] == 0.0
