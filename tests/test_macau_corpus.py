"""The Macau-scam corpus: well-formed, covering its families, and free of surface shortcuts."""

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from scamclf.config import SCAM_TYPES

ROOT = Path(__file__).resolve().parents[1] / "data" / "raw" / "macau"


@pytest.fixture(scope="module")
def macau() -> pd.DataFrame:
    rows = [json.loads(line) for path in sorted(ROOT.glob("*.jsonl")) for line in path.read_text("utf-8").splitlines()]
    return pd.DataFrame(rows)


def _patterns_cited(macau: pd.DataFrame) -> set[str]:
    """The pattern ids the rows name (``P29;P60`` cells split)."""
    return {p.strip() for cell in macau["pattern"] for p in str(cell).split(";")}


def test_corpus_meets_size_floors_in_every_language(macau):
    counts = macau.groupby("category").size()
    assert counts["scam"] >= 300 and counts["lookalike"] >= 300 and counts["ordinary"] > 0
    for lang in ("en", "ms", "zh"):
        sub = macau[macau["lang"] == lang]
        assert (sub["label"] == "scam").sum() >= 50 and (sub["category"] == "lookalike").sum() >= 50


def test_rows_are_consistent(macau):
    assert macau["id"].is_unique
    scam = macau["category"] == "scam"
    assert (macau.loc[scam, "label"] == "scam").all() and (macau.loc[~scam, "label"] == "legit").all()
    assert set(macau.loc[scam, "scam_type"]) <= set(SCAM_TYPES)
    assert (macau.loc[~scam, "scam_type"] == "").all()
    assert not macau["text"].str.contains(r"(?m)^(?:[AB]|caller|callee)\s*:").any()
    patterns = (ROOT / "PATTERNS.md").read_text()
    assert all(f"| {p} |" in patterns for p in _patterns_cited(macau))


def _surface(text: str) -> list[float]:
    n = max(len(text), 1)
    turns = text.count("\n") + 1
    return [
        np.log1p(n),
        turns,
        n / turns,
        sum(c.isdigit() for c in text) / n,
        sum(not c.isalnum() and not c.isspace() for c in text) / n,
        sum(c.isupper() for c in text) / n,
    ]


def _cv_auc(X: np.ndarray, y: np.ndarray) -> float:
    """5-fold ROC-AUC of a logistic regression on ``X`` alone: how well these features tell the classes."""
    proba = cross_val_predict(
        LogisticRegression(max_iter=2000),
        X,
        y,
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
        method="predict_proba",
    )[:, 1]
    return roc_auc_score(y, proba)


@pytest.mark.parametrize("subset", ["all", "scam_vs_lookalike"])
def test_surface_features_alone_cannot_tell_scams(macau, subset):
    data = macau if subset == "all" else macau[macau["category"] != "ordinary"]
    X = np.array([_surface(t) for t in data["text"]])
    y = (data["label"] == "scam").to_numpy()
    assert _cv_auc(X, y) <= 0.60


# Courtesy and style (issue 4 names politeness formulas): greetings, thanks, please, titles and
# address terms, fillers, leave-taking, apologies and questions, counted in the whole call, plus
# whether the call's last two lines close with thanks or leave-taking. Up to batch 17 these alone
# told scams from genuine rows with ROC-AUC 0.74: genuine calls ended politely, scams did not.
STYLE_MARKERS = {
    "greeting": r"\b(?:hello|hi|hey|good (?:morning|afternoon|evening)|selamat (?:pagi|petang|tengah hari|malam)"
    r"|assalamualaikum|salam)\b|你好|您好|喂|哈囉|早上好|下午好",
    "thanks": r"\b(?:thank(?:s| you)|terima ?kasih|tq|thx)\b|谢谢|謝謝|多谢|多謝|唔该|唔該|感谢|感謝",
    "please": r"\b(?:please|pls|tolong|sila|mohon)\b|(?<![申邀])[请請]|麻烦|麻煩|拜托|拜託",
    "title": r"\b(?:sir|madam|mdm|maam|ma'am|mr|mrs|ms|miss|encik|puan|cik|tuan|datuk|auntie|aunty|uncle|boss)\b"
    r"|先生|小姐|女士|阿姨",
    "filler": r"\b(?:uh|um|erm|er|ah|eh|hmm|mm|lah|la|leh|lor|meh|ya|yeah|ok|okay|alright)\b|嗯|呃|那个|那個|啊|哦|喔|吧|呀|好的",
    "leave_taking": r"\b(?:bye|goodbye|take care|see you|cheers|noted|have a (?:good|nice) day|jumpa lagi|sama sama)\b"
    r"|再见|再見|拜拜|掰掰",
    "apology": r"\b(?:sorry|maaf|apologi[sz]e)\b|不好意思|对不起|對不起|抱歉",
    "question": r"\?|？",
}
_STYLE = [re.compile(p) for p in STYLE_MARKERS.values()]
_CLOSING = re.compile(STYLE_MARKERS["thanks"] + "|" + STYLE_MARKERS["leave_taking"])


def _style(text: str) -> list[float]:
    low = text.lower()
    last_two = "\n".join([line for line in low.splitlines() if line.strip()][-2:])
    return [float(np.log1p(len(p.findall(low)))) for p in _STYLE] + [float(bool(_CLOSING.search(last_two)))]


def test_style_markers_match_what_they_name():
    counts = dict(zip(STYLE_MARKERS, _style("hello sir\nok thank you, bye?")[:-1], strict=True))
    assert all(counts[k] > 0 for k in ("greeting", "title", "filler", "thanks", "leave_taking", "question"))
    assert counts["please"] == counts["apology"] == 0
    assert _style("您好 李女士\n好的 谢谢")[-1] == 1.0
    assert _style("terima kasih encik\ntolong bayar sekarang\nsaya tak nak")[-1] == 0.0


# Scam against look-alike (the same register: an institution or business on the line) is held to
# the surface audit's 0.60. Against every genuine row the bound is 0.65, chosen after measuring
# 0.62 once batch 17 was edited: everyday calls between family and friends use no titles and more
# fillers (scam against ordinary alone: about 0.84), which is how people talk, not a writing habit.
@pytest.mark.parametrize(("subset", "bound"), [("all", 0.65), ("scam_vs_lookalike", 0.60)])
def test_courtesy_and_style_alone_cannot_tell_scams(macau, subset, bound):
    data = macau if subset == "all" else macau[macau["category"] != "ordinary"]
    X = np.array([_style(t) for t in data["text"]])
    y = (data["label"] == "scam").to_numpy()
    assert _cv_auc(X, y) <= bound


# Words (and CJK character pairs) used in 25 or more rows, at least 95% of them by one class (rates
# per class, so class sizes do not matter). Each is listed with why it stays; a batch that adds a
# new one must either vary its rows or add it here with its reason.
ONE_CLASS_ALLOWED = {
    # scam script: 不要挂 "don't hang up", 就会 "(your account) will then (be frozen)", 查不到 / 侦查不公开 "the
    # counter cannot see it, the investigation is secret"
    "要挂": "scam",
    "就会": "scam",
    "查不": "scam",
    # the genuine act: the official website ("laman web"), an ID brought to any branch (带身份证到任意网点),
    # "you can (do it) in the app" (可以在), "we never handle cases over the phone" (电话里), "we will never
    # ask you to transfer to any (到任何) personal account"; and appointments, opening hours and processing
    # times ("wednesday", 几点, 点半, 九点到十二点, 七到十四个工作日), which a scam's deadline ("today before
    # five") does not use
    "laman": "legit",
    "web": "legit",
    "带身": "legit",
    "帶身": "legit",
    "以在": "legit",
    "话里": "legit",
    "到任": "legit",
    "到十": "legit",
    "点半": "legit",
    "几点": "legit",
    "wednesday": "legit",
    # the genuine act again (batch 18): the official anti-scam helpline and app a bank or hotline sends a customer
    # to ("report it on scamshield", 1799); one scam uses the name to build trust
    "scamshield": "legit",
}


def _tokens(text: str) -> set[str]:
    """Latin words, and pairs of adjacent CJK characters (within a run: never across a space or a line)."""
    low = text.lower()
    runs = re.findall(r"[\u4e00-\u9fff]{2,}", low)
    return set(re.findall(r"[a-z][a-z']+", low)) | {run[i : i + 2] for run in runs for i in range(len(run) - 1)}


def test_no_new_word_is_used_by_one_class_only(macau):
    rows = {label: [_tokens(t) for t in macau.loc[macau["label"] == label, "text"]] for label in ("scam", "legit")}
    counts = {label: pd.Series([w for toks in rows[label] for w in toks]).value_counts() for label in rows}
    both = pd.concat(counts, axis=1).fillna(0)
    rate = both / pd.Series({label: len(rows[label]) for label in rows})
    share = rate["scam"] / (rate["scam"] + rate["legit"])
    frequent = both.sum(axis=1) >= 25
    one_class = {
        w: ("scam" if share[w] >= 0.95 else "legit")
        for w in share[frequent & ((share >= 0.95) | (share <= 0.05))].index
    }
    assert {w: c for w, c in one_class.items() if ONE_CLASS_ALLOWED.get(w) != c} == {}, "vary these or list them"


def test_every_file_is_as_the_datasheet_records_it():
    """A row edited without a datasheet entry (and its new hash) is an unrecorded change."""
    datasheet = (ROOT / "README.md").read_text()
    for path in sorted(ROOT.glob("*.jsonl")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest in datasheet, f"{path.name}: sha256 {digest} is not in the datasheet; record the change"


def test_every_pattern_a_row_follows_has_a_verified_source(macau):
    sources = (ROOT / "SOURCES.md").read_text()
    used = _patterns_cited(macau) - {"P00"}
    missing = sorted(p for p in used if not re.search(rf"(?m)^\| {p} \|.*\| verified \|\s*$", sources))
    assert not missing, f"pattern ids without a verified source in SOURCES.md: {missing}"


def test_every_family_has_a_pinned_benchmark_fold(macau):
    # benchmarks/cross_source.py keeps each family in the fold listed here; a family missing from
    # the file would be placed by load, so a merge that adds one must add it to the file too.
    folds = pd.read_csv(ROOT.parents[2] / "benchmarks" / "macau_folds.csv")
    label_of = dict(zip(folds["family"], folds["label"], strict=True))
    families = macau.groupby("family")["label"].agg(lambda s: "/".join(sorted(set(s))))
    missing = {f: families[f] for f in families.index if label_of.get(f) != families[f]}
    assert missing == {}, "add these families, with a fold, to benchmarks/macau_folds.csv (label must match)"


def test_the_challenge_set_is_recorded_and_kept_out_of_training():
    """Batches 15 and 21 are held-out challenge sets: hashed in the datasheet, in no training data."""
    from scamclf.dataset import load_bundled_corpus

    challenge = sorted((ROOT.parent / "macau_challenge").glob("*.jsonl"))
    assert [p.name for p in challenge] == [
        "en_15.jsonl",
        "en_21.jsonl",
        "en_21b.jsonl",
        "ms_15.jsonl",
        "ms_21.jsonl",
        "zh_15.jsonl",
        "zh_21.jsonl",
    ]
    datasheet = (ROOT / "README.md").read_text()
    texts = set()
    for path in challenge:
        assert hashlib.sha256(path.read_bytes()).hexdigest() in datasheet, f"{path.name}: record its hash"
        texts |= {json.loads(line)["text"] for line in path.read_text("utf-8").splitlines() if line.strip()}
    assert len(texts) == 240
    assert not texts & set(load_bundled_corpus()["text"]), "challenge rows leaked into the bundled corpus"
    assert not any((ROOT / p.name).exists() for p in challenge), "challenge files must stay out of data/raw/macau"
