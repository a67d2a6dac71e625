"""NgramTfidf must give exactly what scikit-learn's TfidfVectorizer gives, only faster."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from scamclf.features import TOKEN_PATTERN, tokenize
from scamclf.ngrams import NgramTfidf, char_wb_ngrams

# Few distinct words so that n-grams repeat across documents and min_df / max_features bite.
_WORDS = st.sampled_from(["safe", "account", "bank", "0", "转", "账", "polis", "ok", "a", "wang", "tac", "x"])
_DOCS = st.lists(
    st.lists(_WORDS, min_size=0, max_size=12).map(" ".join),
    min_size=2,
    max_size=25,
)


def _reference(analyzer: str, **kw) -> TfidfVectorizer:
    if analyzer == "word":
        return TfidfVectorizer(
            analyzer="word", tokenizer=tokenize, token_pattern=None, lowercase=False, dtype=np.float32, **kw
        )
    return TfidfVectorizer(analyzer="char_wb", lowercase=False, dtype=np.float32, **kw)


def _ours(analyzer: str, **kw) -> NgramTfidf:
    if analyzer == "word":
        return NgramTfidf(analyzer="word", token_pattern=TOKEN_PATTERN, **kw)
    return NgramTfidf(analyzer="char_wb", **kw)


def _assert_same(reference: TfidfVectorizer, ours: NgramTfidf, train: list[str], test: list[str]) -> None:
    try:
        expected = reference.fit_transform(train)
    except ValueError:
        with pytest.raises(ValueError):
            ours.fit_transform(train)
        return
    got = ours.fit_transform(train)
    assert ours.get_feature_names_out().tolist() == reference.get_feature_names_out().tolist()
    assert ours.vocabulary_ == {k: int(v) for k, v in reference.vocabulary_.items()}
    np.testing.assert_allclose(got.toarray(), expected.toarray(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        ours.transform(test).toarray(), reference.transform(test).toarray(), rtol=1e-5, atol=1e-6
    )
    # A second pass uses the unit cache: still the same.
    np.testing.assert_allclose(
        ours.transform(test).toarray(), reference.transform(test).toarray(), rtol=1e-5, atol=1e-6
    )


@given(train=_DOCS, test=_DOCS, min_df=st.integers(1, 3), max_features=st.one_of(st.none(), st.integers(1, 12)))
@pytest.mark.parametrize(
    ("analyzer", "ngram_range"),
    # char_wb (1, 3) and (4, 5) take the per-word path, (2, 4) the vectorised one.
    [("word", (1, 2)), ("word", (2, 3)), ("char_wb", (2, 4)), ("char_wb", (1, 3)), ("char_wb", (4, 5))],
)
def test_equals_scikit_learn(analyzer, ngram_range, train, test, min_df, max_features):
    kw = dict(ngram_range=ngram_range, min_df=min_df, max_features=max_features, sublinear_tf=True)
    _assert_same(_reference(analyzer, **kw), _ours(analyzer, **kw), train, test)


@pytest.mark.parametrize("analyzer", ["word", "char_wb"])
def test_equals_scikit_learn_on_real_looking_text(analyzer):
    train = [
        "this is the police your parcel holds drugs",
        "transfer 0 ringgit to the safe account now",
        "hello mak cik ini pegawai bank negara",
        "你好 这里是公安局 你的账户涉嫌洗钱",
        "hi mum see you at dinner",
        "your parcel will arrive tomorrow",
    ] * 3
    test = ["the police said transfer to a safe account", "", "新的 账户", "unseen words only qq"]
    kw = dict(ngram_range=(1, 2) if analyzer == "word" else (2, 4), min_df=2, max_features=40, sublinear_tf=True)
    _assert_same(_reference(analyzer, **kw), _ours(analyzer, **kw), train, test)


def test_char_wb_ngrams_matches_scikit_learn():
    analyzer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=False).build_analyzer()
    for word in ["a", "ab", "abc", "abcd", "money", "账户"]:
        assert char_wb_ngrams(word, 2, 5) == analyzer(word)


def test_pickle_keeps_no_caches_and_round_trips():
    vec = NgramTfidf(analyzer="char_wb", ngram_range=(2, 3)).fit(["safe account", "bank account"])
    before = vec.transform(["safe bank"]).toarray()
    state = vec.__getstate__()
    assert not {"_vocab", "_index", "_compiled", "_unit_cache"} & set(state)
    again = pickle.loads(pickle.dumps(vec))
    np.testing.assert_array_equal(again.transform(["safe bank"]).toarray(), before)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"analyzer": "char"}, "analyzer"),
        ({"ngram_range": (3, 2)}, "ngram_range"),
        ({"ngram_range": (1, 4)}, "n <= 3"),
        ({"min_df": 0}, "min_df"),
        ({"norm_floor": -0.1}, "norm_floor"),
        ({"norm_floor": float("nan")}, "norm_floor"),
        ({"norm_floor": float("inf")}, "norm_floor"),
        ({"norm_floor": None}, "norm_floor"),
    ],
)
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(ValueError, match=message):
        NgramTfidf(**params).fit(["a b", "b c"])


def test_empty_vocabulary_and_string_input_are_refused():
    with pytest.raises(ValueError, match="empty vocabulary"):
        NgramTfidf(token_pattern=TOKEN_PATTERN).fit(["", "  "])
    with pytest.raises(ValueError, match="Iterable"):
        NgramTfidf().fit("a string")


@pytest.mark.parametrize("pattern", [r"\w+ \w+", r"\w+ \w+|\w+", r"\w*"])
def test_token_patterns_finding_spaces_or_empty_tokens_are_refused(pattern):
    # Terms are stored as space-joined tokens: such tokens would be counted as other n-grams.
    with pytest.raises(ValueError, match="empty tokens or tokens holding whitespace"):
        NgramTfidf(token_pattern=pattern).fit(["a b c d", "a b"])


@given(
    units=st.lists(st.text(st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc")), min_size=1), min_size=1),
    lo=st.integers(2, 3),
    extra=st.integers(0, 2),
)
def test_vectorised_fit_finds_the_same_ngrams_per_word(units, lo, extra):
    import pandas as pd

    from scamclf.ngrams import _unit_grams_by_unit, _unit_grams_vectorised

    uniques = pd.unique(pd.Series([u for u in units if u.split() == [u]], dtype=object)).astype(object)
    if not len(uniques):
        return
    found = _unit_grams_vectorised(uniques, lo, lo + extra)
    assert found is not None
    expected = _unit_grams_by_unit(uniques, lo, lo + extra)

    def per_unit(matrix, terms):
        matrix = matrix.tocoo()
        out = {}
        for r, c, v in zip(matrix.row, matrix.col, matrix.data, strict=True):
            out[(r, terms[c])] = out.get((r, terms[c]), 0) + v
        return out

    assert sorted(found[1]) == sorted(expected[1])
    assert per_unit(*found) == per_unit(*expected)


# ASCII letters, the digit runs masking leaves ("0") and others, punctuation, every ASCII
# whitespace (including the separators str.split knows and the regex does not), and CJK.
_TOKEN_TEXT = st.text(
    st.one_of(
        st.sampled_from(list("abcXYZ0019 \t\n\r\x0b\x0c\x1c\x1f_-.,'")),
        st.sampled_from(["账", "户", "é", "\u00a0", "\u2028", "٣", "க", "\u0bcd", "\u0bbe", "\ufe0f"]),
    ),
    max_size=40,
)


@given(doc=_TOKEN_TEXT)
def test_fast_tokeniser_equals_the_token_pattern(doc):
    import re

    from scamclf.ngrams import _fast_tokens

    findall = re.compile(TOKEN_PATTERN).findall
    assert _fast_tokens(findall)(doc) == findall(doc)


@given(train=_DOCS, test=st.lists(_TOKEN_TEXT, min_size=1, max_size=8))
def test_word_counts_on_odd_text_equal_scikit_learn(train, test):
    # Unseen tokens, tokens only inside bigrams, digits next to letters: the token index must
    # give TfidfVectorizer's matrix whatever the text holds.
    kw = dict(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    _assert_same(_reference("word", **kw), _ours("word", **kw), train, test)


def _raw_norms(vec: NgramTfidf, docs: list[str]) -> np.ndarray:
    counts = vec.count(docs).toarray().astype(np.float64)
    tf = np.where(counts > 0, 1 + np.log(np.where(counts > 0, counts, 1)), 0) if vec.sublinear_tf else counts
    return np.linalg.norm(tf * vec.idf_, axis=1)


@given(train=_DOCS, test=_DOCS, floor=st.floats(0.05, 3.0))
@pytest.mark.parametrize("analyzer", ["word", "char_wb"])
def test_norm_floor_scales_short_rows_down_and_leaves_the_rest(analyzer, train, test, floor):
    kw = dict(ngram_range=(1, 2), sublinear_tf=True)
    plain = _ours(analyzer, **kw)
    floored = _ours(analyzer, norm_floor=floor, **kw)
    try:
        expected_train = plain.fit_transform(train).toarray()
    except ValueError:
        return
    got_train = floored.fit_transform(train).toarray()
    # The floor is the given fraction of the median norm of the training rows holding an n-gram.
    held = _raw_norms(plain, train)
    held = held[held > 0]
    assert floored.norm_floor_ == pytest.approx(floor * np.median(held) if len(held) else 0.0, rel=1e-4)
    for docs, got, expected in ((train, got_train, expected_train), (test, None, None)):
        if got is None:
            got, expected = floored.transform(docs).toarray(), plain.transform(docs).toarray()
        raw = _raw_norms(plain, docs)
        scale = np.minimum(1.0, raw / floored.norm_floor_) if floored.norm_floor_ > 0 else np.ones_like(raw)
        # Same direction as plain L2 normalisation, shrunk by raw norm / floor below the floor.
        np.testing.assert_allclose(got, expected * scale[:, None], rtol=1e-4, atol=1e-6)


def test_vocabularies_saved_before_the_floor_normalise_as_before(saved_before_norm_floor):
    vec = NgramTfidf(ngram_range=(1, 2), sublinear_tf=True).fit(["safe account now", "see you at dinner"])
    old = saved_before_norm_floor(vec)
    assert old.get_params()["norm_floor"] == 0.0
    np.testing.assert_array_equal(old.transform(["safe"]).toarray(), vec.transform(["safe"]).toarray())
    assert np.linalg.norm(old.transform(["safe"]).toarray()) == pytest.approx(1.0)


@pytest.mark.parametrize("analyzer", ["word", "char_wb"])
def test_a_floored_fit_transform_equals_fit_then_transform_exactly(analyzer):
    # Row norms are summed in float64, so entry order (sorted after fit, not after transform)
    # cannot change a row by a rounding error.
    rng = np.random.default_rng(0)
    words = ["safe", "account", "otp", "bank", "polis", "akaun", "转账", "安全", "ok", "0", "the", "you"]
    docs = [" ".join(rng.choice(words, size=rng.integers(0, 60))) for _ in range(300)]
    vec = NgramTfidf(analyzer=analyzer, ngram_range=(1, 3), sublinear_tf=True, norm_floor=1.0)
    X = vec.fit_transform(docs)
    assert vec.norm_floor_ > 0
    np.testing.assert_array_equal(X.toarray(), vec.transform(docs).toarray())


def test_rows_without_ngrams_do_not_pull_the_floor_down():
    # Most rows are a lone digit or a one-letter word (no n-gram for the word analyzer): the floor
    # still comes from the rows that do hold n-grams, so a short text stays short.
    docs = ["1", "a", "?", "2", "b", "safe account now transfer today", "see you at dinner tonight"]
    vec = NgramTfidf(ngram_range=(1, 2), sublinear_tf=True, norm_floor=1.0).fit(docs)
    plain = NgramTfidf(ngram_range=(1, 2), sublinear_tf=True).fit(docs)
    held = _raw_norms(plain, docs)
    assert (held == 0).sum() == 5
    assert vec.norm_floor_ == pytest.approx(np.median(held[held > 0]), rel=1e-5)
    assert np.linalg.norm(vec.transform(["safe"]).toarray()) < 0.5
