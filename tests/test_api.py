from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scamclf
from scamclf.api import MAX_TRANSCRIPT_CHARS, _training_metrics, resolve_model_path
from scamclf.errors import DataError, OutputExistsError
from scamclf.evaluate import binary_metrics, length_bands


def test_public_api_is_importable():
    for name in scamclf.__all__:
        assert getattr(scamclf, name) is not None


def test_score_texts_notes_rows_without_a_score(fitted):
    out = fitted.score_texts(["", "   ", None, "transfer your savings to a safe account"])
    assert out["note"].tolist()[:3] == ["empty", "empty", "empty"]
    assert np.isnan(out["scam_probability"].iloc[0])
    assert out["verdict"].iloc[3] in {"scam", "suspicious", "legit"}


def test_score_texts_truncates_huge_transcripts(fitted):
    out = fitted.score_texts(["safe account " * (MAX_TRANSCRIPT_CHARS // 5)])
    assert out["note"].iloc[0].startswith("truncated")
    assert 0 <= out["scam_probability"].iloc[0] <= 1


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("வணக்கம் நான் போலீஸ் அதிகாரி உங்கள் bank account OTP சொல்லுங்கள்", "Tamil"),
        ("여보세요 검찰청 수사관입니다 고객님 계좌가 자금세탁에 연루되었습니다", "Hangul"),
    ],
)
def test_score_texts_notes_writing_the_model_never_saw(fitted, text, script):
    # Such a text gets no features: its score is an empty text's, and the user is told so.
    out = fitted.score_texts([text, "transfer your savings to a safe account now", "sila pindahkan wang sekarang"])
    note = out["note"].iloc[0]
    assert note.startswith("unfamiliar writing: ") and f"of the letters are {script}, a script" in note
    assert out["note"].iloc[1:].tolist() == ["", ""]
    assert fitted.predict(text)["note"] == note
    long = fitted.score_texts([text * (MAX_TRANSCRIPT_CHARS // len(text) + 1)])["note"].iloc[0]
    assert long.startswith("truncated") and "; unfamiliar writing: " in long


def test_score_texts_notes_nothing_for_a_few_stray_letters(fitted):
    # A name or a symbol in another script is not a text in it.
    # Half of "ok 김안" is Korean, but two letters are too few to call it a Korean text.
    out = fitted.score_texts(["please transfer the savings to account of 안 now", "ok 김안", "ok 김안녕"])
    assert out["note"].tolist()[:2] == ["", ""] and out["note"].iloc[2].startswith("unfamiliar writing: 60%")
    # Rare Chinese characters are not a foreign script: the fixture's Chinese rows hold few of them.
    assert fitted.score_texts(["龘靐齉爩 转账"])["note"].tolist() == [""]


def test_the_note_names_the_script_of_most_unfamiliar_letters(fitted):
    note = fitted.score_texts(["ok 안녕 வணக்கம் நான் போலீஸ் அதிகாரி"])["note"].iloc[0]
    assert "of the letters are Tamil, a script" in note


def test_a_refit_forgets_the_letters_of_the_first_fit():
    from scamclf.features import ScamFeatures

    features = ScamFeatures(min_df=1, lexicon_weight=0)
    features.fit(["hello there friend"] * 3)
    assert features.unfamiliar_letters(["안녕 안녕"])[0].tolist() == [1.0]
    features.fit(["안녕 안녕 hello"] * 3)
    assert features.unfamiliar_letters(["안녕 안녕"])[0].tolist() == [0.0]


def test_turn_scores_of_one_text_per_call_carry_the_note(fitted):
    frame = pd.DataFrame({"text": ["여보세요\n검찰청 수사관입니다", "hello\ntransfer your savings to a safe account"]})
    out = fitted.score_turns(frame)
    assert out["note"].iloc[0].startswith("unfamiliar writing: ") and out["note"].iloc[1] == ""


def test_models_saved_without_their_letters_note_nothing(fitted):
    import copy

    old = copy.deepcopy(fitted)
    del old.estimator.features_.known_scripts_
    assert old.score_texts(["여보세요 검찰청 수사관입니다"])["note"].tolist() == [""]


def test_score_frame_keeps_input_columns_and_order(fitted, corpus):
    frame = corpus[["source", "text"]]
    out = fitted.score_frame(frame)
    assert out.columns.tolist()[:2] == ["source", "text"]
    assert out.columns.tolist()[2:] == ["scam_probability", "is_scam", "verdict", "scam_type", "evidence", "note"]
    legit = out["verdict"] == "legit"
    assert (out.loc[legit, "scam_type"] == "").all()
    assert (out.loc[~legit, "scam_type"] != "").all()


def test_evidence_explains_flagged_rows_by_default_and_every_row_on_request(fitted, corpus):
    texts = corpus["text"].tolist()
    flagged = fitted.score_texts(texts)
    every = fitted.score_texts(texts, evidence="all")
    legit = (flagged["verdict"] == "legit").to_numpy()
    assert legit.any() and (~legit).any()
    assert (flagged.loc[legit, "evidence"] == "").all()
    # a flagged row has the same evidence either way; a legit one has its own under "all"
    assert flagged.loc[~legit, "evidence"].tolist() == every.loc[~legit, "evidence"].tolist()
    assert (every.loc[legit, "evidence"] != "").any()
    assert fitted.score_texts(texts, evidence=True)["evidence"].tolist() == every["evidence"].tolist()
    for off in (False, "none"):
        assert "evidence" not in fitted.score_texts(texts, evidence=off).columns
    assert every.drop(columns="evidence").equals(flagged.drop(columns="evidence"))
    with pytest.raises(ValueError, match="flagged, all, none"):
        fitted.score_texts(texts, evidence="some")


def test_score_frame_refuses_existing_output_columns(fitted):
    frame = pd.DataFrame({"text": ["hi"], "verdict": ["x"]})
    with pytest.raises(DataError, match="--overwrite-columns"):
        fitted.score_frame(frame)
    assert fitted.score_frame(frame, overwrite_columns=True)["verdict"].iloc[0] != "x"


def test_threshold_override_changes_is_scam(fitted):
    text = "transfer your savings to a safe account"
    assert fitted.predict(text, threshold=0.0)["is_scam"] is True
    assert fitted.predict(text, threshold=1.0)["is_scam"] is False


def test_predict_returns_verdict_type_and_evidence(fitted):
    result = fitted.predict("this is bukit aman your account is linked to money laundering transfer to a safe account")
    assert set(result) >= {"scam_probability", "is_scam", "verdict", "scam_type", "evidence"}
    assert result["verdict"] == "scam"
    assert result["evidence"] and {"phrase", "weight"} <= set(result["evidence"][0])


def test_training_metrics_include_leave_one_source_out(fitted):
    metrics = fitted.metadata["metrics"]
    loso = metrics["leave_one_source_out"]
    assert set(loso["by_source"]) == {"alpha", "beta", "gamma"}
    assert "random_split" in metrics
    # The report is the mean over the assignments of sources to folds (here one: three sources, three folds).
    assert loso["assignments"] == len(loso["macro_f1_by_assignment"]) == 1
    assert "mean over" not in loso["note"] and "range" not in loso["by_source"]["alpha"]


def test_training_metrics_average_the_assignments_of_sources_to_folds():
    frame = pd.DataFrame({"source": ["a", "a", "b", "b"], "label": ["scam", "legit"] * 2})
    y = np.array([1, 0, 1, 0])
    repeats = np.array([[0.9, 0.6, 0.9, 0.1], [0.9, 0.1, 0.2, 0.1]])
    estimator = SimpleNamespace(threshold_=0.5, max_group_folds=6, oof_proba_=repeats[0], oof_proba_repeats_=repeats)
    loso = _training_metrics(estimator, y, frame)["leave_one_source_out"]
    assert loso["assignments"] == 2 and "mean over 2 assignments" in loso["note"]
    assert loso["by_source"]["a"]["false_positive_rate"] == 0.5 and loso["by_source"]["a"]["range"]["f1"][1] == 1.0
    assert loso["by_source"]["b"]["recall"] == 0.5
    assert loso["macro_f1_by_assignment"] == [0.8334, 0.5]  # F1 2/3 (rounded 0.6667) and 1; then 1 and 0
    # A model fitted before 0.32.0 has no repeats: its one assignment is reported as before.
    del estimator.oof_proba_repeats_
    loso = _training_metrics(estimator, y, frame)["leave_one_source_out"]
    assert loso["assignments"] == 1 and loso["overall"] == binary_metrics(y, repeats[0], 0.5)


def test_resolve_model_path_order(tmp_path, monkeypatch):
    assert resolve_model_path("x.joblib") == (Path("x.joblib"), "--model-path")
    assert resolve_model_path()[1] == "user"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "scamclf.joblib").write_bytes(b"x")
    assert resolve_model_path()[1] == "project"
    monkeypatch.setenv("SCAMCLF_MODEL", "env.joblib")
    assert resolve_model_path()[1] == "SCAMCLF_MODEL"


def test_load_trains_the_user_default_model_once(monkeypatch, fitted):
    calls = []

    def fake_train():
        calls.append(1)
        return fitted

    monkeypatch.setattr(scamclf.api, "train", fake_train)
    messages = []
    model = scamclf.load(notify=messages.append)
    assert calls == [1] and "training the default model" in messages[0]
    scamclf.load()
    assert calls == [1]
    assert model.path.exists()


def test_save_never_overwrites_without_force(fitted, model_path):
    with pytest.raises(OutputExistsError):
        fitted.save(model_path)


def test_score_file_streams_to_an_atomic_output(fitted, corpus_path, tmp_path):
    out = tmp_path / "scored.jsonl"
    summary = scamclf.score_file(fitted, corpus_path, out, chunksize=5)
    frame = pd.read_json(out, lines=True)
    assert summary["rows"] == len(frame) == 24
    assert summary["scam"] + summary["suspicious"] + summary["legit"] == 24


def test_evaluate_reports_by_group(fitted, corpus):
    report, y, proba = fitted.evaluate(corpus, group_cols=["source"])
    assert report["overall"]["rows"] == len(corpus) == len(y) == len(proba)
    assert set(report["by"]["source"]["groups"]) == {"alpha", "beta", "gamma"}
    bands = report["by_length"]
    assert sum(m["rows"] for m in bands.values()) == len(corpus)
    assert set(bands) == set(length_bands(corpus["text"].str.len()))


@given(st.lists(st.text(), min_size=1, max_size=8))
def test_any_text_scores_to_a_probability_one_row_each(fitted, texts):
    out = fitted.score_texts(texts)
    assert len(out) == len(texts)
    scored = out["scam_probability"].dropna()
    assert ((scored >= 0) & (scored <= 1)).all()
    assert (out["note"] == "empty").sum() == sum(1 for t in texts if not t.strip())


def test_load_refuses_a_model_that_breaks_on_use(model_copy, monkeypatch):
    from scamclf.errors import ModelError
    from scamclf.model import ScamClassifier

    def broken(self, X):
        raise AttributeError("'Lexicon' object has no attribute '_latin'")

    monkeypatch.setattr(ScamClassifier, "predict_proba", broken)
    with pytest.raises(ModelError, match="retrain it"):
        scamclf.load(model_copy)


def test_one_class_file_trains_with_the_bundled_corpus(tmp_path, corpus):
    path = tmp_path / "scams.csv"
    pd.concat([corpus[corpus["label"] == "scam"]] * 2).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"scams\.csv: no 'legit' rows"):
        scamclf.training_frame([path])
    frame = scamclf.training_frame([path], with_bundled=True)
    assert set(frame["label"]) == {"scam", "legit"}


def test_training_frame_takes_one_path_as_it_takes_a_list(tmp_path, corpus):
    path = tmp_path / "calls.csv"
    corpus.to_csv(path, index=False)
    listed = scamclf.training_frame([path])
    for one in (path, str(path)):
        pd.testing.assert_frame_equal(scamclf.training_frame(one), listed)
    with pytest.raises(DataError, match=r"missing\.csv"):
        scamclf.training_frame(str(tmp_path / "missing.csv"))


def _boosted_only(frame):
    """The weights before 0.24.0: sources and classes balanced, then the Macau boost on top."""
    from scamclf.api import in_domain_weights
    from scamclf.model import row_languages, source_weights

    y = (frame["label"] == "scam").to_numpy().astype(int)
    sources = frame["source"].astype(str).to_numpy()
    base = source_weights(y, sources, row_languages(frame["text"].tolist(), frame["lang"]))
    return frame.assign(w=base * in_domain_weights(sources))


def test_training_weights_balance_scam_and_legit_within_each_language_and_domain():
    from scamclf.api import training_weights

    frame = scamclf.training_frame()
    new = frame.assign(w=training_weights(frame))
    old = _boosted_only(frame)
    domain = np.where(frame["source"].str.startswith("macau_"), "macau", "public")
    for (_, _), cell in new.groupby([frame["lang"], domain]):
        totals = cell.groupby("label")["w"].sum()
        if len(totals) == 2:
            assert totals["scam"] == pytest.approx(totals["legit"], rel=1e-9)
    # Each language and each domain within it keeps the weight the Macau boost gave it.
    pd.testing.assert_series_equal(
        new.groupby([frame["lang"], domain])["w"].sum(), old.groupby([frame["lang"], domain])["w"].sum()
    )
    english_macau = new[frame["source"] == "macau_en"].groupby("label")["w"].sum()
    assert english_macau["scam"] == pytest.approx(english_macau["legit"])  # it was 81% scam before 0.24.0


def test_training_weights_rebalance_a_language_whose_public_part_holds_one_class():
    from scamclf.api import training_weights

    frame = pd.DataFrame(
        {
            "text": ["hello bank", "your balance", "safe account now", "see you", "police here pay", "dinner?"],
            "label": ["legit", "legit", "scam", "legit", "scam", "legit"],
            "source": ["b77", "b77", "macau_en", "macau_en", "macau_en", "macau_en"],
            "lang": ["en"] * 6,
        }
    )
    weighted = frame.assign(w=training_weights(frame))
    totals = weighted.groupby("label")["w"].sum()
    assert totals["scam"] == pytest.approx(totals["legit"])  # English as a whole stays balanced
    # Labels in any accepted spelling count the same.
    numeric = frame.assign(label=frame["label"].map({"scam": 1, "legit": 0}))
    np.testing.assert_allclose(training_weights(numeric), training_weights(frame))


def test_train_fits_with_scam_and_legit_balanced_per_language_and_domain(monkeypatch):
    from scamclf.model import ScamClassifier

    seen = {}

    class Stop(Exception):
        pass

    def spy(self, Xf, y, w, *args, **kwargs):
        seen["y"], seen["w"] = y, w
        raise Stop

    monkeypatch.setattr(ScamClassifier, "_linear_fits", spy)
    labels = ["s", "l", "l", "l", "s", "s", "l", "l", "l", "l", "s", "l"]
    frame = pd.DataFrame(
        {
            "text": [f"call number {i} about the bank and a parcel" for i in range(24)],
            "label": [{"s": "scam", "l": "legit"}[v] for v in labels * 2],
            "source": (["macau_en"] * 6 + ["robo", "b77", "b77", "b77", "robo", "b77"]) * 2,
            "lang": ["en"] * 24,
        }
    )
    with pytest.raises(Stop):
        scamclf.train(frame, random_split=False)
    y, w = seen["y"], seen["w"]
    macau = (frame["source"] == "macau_en").to_numpy()
    for rows in (macau, ~macau):
        assert w[rows & (y == 1)].sum() == pytest.approx(w[rows & (y == 0)].sum())


def test_a_text_of_invisible_characters_only_is_empty(fitted):
    out = fitted.score_texts(["\u200b\u200b", "\ufeff \u200d\n", "ok\u200b"])
    assert out["note"].tolist() == ["empty", "empty", ""]
    assert out["scam_probability"].isna().tolist() == [True, True, False]


def test_invisible_characters_cannot_hide_a_cue(fitted):
    plain = "officer here read me the otp and transfer your savings to the safe account"
    hidden = plain.replace("otp", "O\u200bT\u200bP").replace("safe", "sa\u00adfe").replace("transfer", "trans\u200dfer")
    assert (
        fitted.score_texts([hidden])["scam_probability"].iloc[0]
        == fitted.score_texts([plain])["scam_probability"].iloc[0]
    )
