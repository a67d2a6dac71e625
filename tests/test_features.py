import itertools
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scamclf.features import (
    Lexicon,
    ScamFeatures,
    load_lexicon,
    mask_digits,
    normalise_text,
    tidy_speech,
    tokenize,
)


def test_normalise_text_removes_speaker_labels_punctuation_and_case():
    assert normalise_text("A: Hello, Officer!\nB: What?") == "hello officer\nwhat"
    assert normalise_text("caller: OK\ncallee：好的") == "ok\n好的"


def test_normalise_text_removes_recogniser_and_subtitle_timestamps():
    assert normalise_text("[00:01:23] Agent: Hello sir\n0:05 Speaker 2: hi") == "hello sir\nhi"
    srt = "1\n00:00:01,000 --> 00:00:04,000\nThis is the bank\n\n2\n00:00:04,500 --> 00:00:06,000\nyes"
    assert normalise_text(srt) == "this is the bank\nyes"
    assert normalise_text("WEBVTT\n\n00:01.000 --> 00:04.000\n(12:30) 喂 你好") == "webvtt\n喂 你好"
    # A time of day inside a turn is speech, not formatting.
    assert normalise_text("come at 10:30 ok") == "come at 10 30 ok"
    assert normalise_text("what time\n9:00") == "what time\n9 00"


@given(st.text(st.sampled_from(list("0123456789:：[]()-> ,.\n\tab٣")), max_size=40))
def test_timestamp_pattern_runs_only_where_it_can_match(text):
    # normalise_text skips the timestamp pattern on texts without ":" and two digits.
    from scamclf.features import _TIMESTAMP, _TIMESTAMP_HINT

    if _TIMESTAMP.search(text):
        assert _TIMESTAMP_HINT.search(text)


@pytest.mark.parametrize(
    "text",
    [
        "SPEAKER_00: hello this is the police\nSPEAKER_01: yes",  # diarised recognisers
        "spk_0: hello this is the police\nspk_1: yes",
        "Guest-1: hello this is the police\nGuest-2: yes",
        "Person 1: hello this is the police\nPerson 2: yes",
        "Recipient: hello this is the police\nCaller: yes",
        "[SPEAKER_00] hello this is the police\n[SPEAKER_01] yes",
        "(Speaker A) hello this is the police\n(Speaker B) yes",
        "Speaker 1  0:03\nhello this is the police\nSpeaker 2  0:07\nyes",  # meeting-notes export
        "<v Speaker 1>hello this is the police</v>\n<v.loud Speaker 2>yes</v>",  # WebVTT voices
        "Speaker 0 [0.00s - 3.20s]: hello this is the police\nSpeaker 1 [3.2s - 4s]: yes",
        "[12.5 --> 15.0] hello this is the police\n(15.0 --> 16.1) yes",
    ],
)
def test_normalise_text_removes_the_labels_of_diarising_recognisers(text):
    # Left in, "speaker 0" on every turn dilutes a call and teaches the recogniser, not the call.
    assert normalise_text(text) == "hello this is the police\nyes"


def test_normalise_text_removes_chinese_speaker_labels():
    assert normalise_text("说话人1：你好 我是公安局的\n說話人 2：好") == "你好 我是公安局的\n好"
    assert normalise_text("坐席：您好\n客户：嗯") == "您好\n嗯"


@pytest.mark.parametrize(
    "text",
    [
        "the speaker was loud",
        "i was on the phone with speaker 1 yesterday",
        "a person 1 metre away",
        "speakers loud",
        "meet at 10 12 ok",  # from "(10-12)": a range of numbers is speech
        "pay 1 5 2 5 ok",  # from "(1.5 - 2.5)"
    ],
)
def test_words_like_labels_inside_speech_stay(text):
    raw = {"meet at 10 12 ok": "meet at (10-12) ok", "pay 1 5 2 5 ok": "pay (1.5 - 2.5) ok"}.get(text, text)
    assert normalise_text(raw) == text


def test_normalise_text_converts_traditional_to_simplified():
    assert normalise_text("請轉帳到安全帳戶") == "请转帐到安全帐户"


def test_normalise_text_replaces_urls_emails_and_placeholders():
    text = normalise_text("visit https://bit.ly/x or mail a.b@c.com DIGIT NAME")
    assert "url" in text and "email" in text and "digit" not in text and "name" not in text


def test_mask_digits_and_tokenize():
    assert mask_digits("rm 12000 and 997") == "rm 0 and 0"
    assert tokenize("pay 0 到账户") == ["pay", "0", "到", "账", "户"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("வணக்கம், நான் போலீஸ் அதிகாரி!", ["வணக்கம்", "நான்", "போலீஸ்", "அதிகாரி"]),  # Tamil
        ("नमस्ते, मैं पुलिस से बोल रहा हूँ", ["नमस्ते", "मैं", "पुलिस", "से", "बोल", "रहा", "हूँ"]),  # Hindi
        ("ខ្ញុំជាប៉ូលីស", ["ខ្ញុំជាប៉ូលីស"]),  # Khmer (no spaces between words)
        ("ok 1\ufe0f\u20e3 e\u0301te\u0301", ["ok", "1", "été"]),  # emoji keycap gone, accent composed
    ],
)
def test_combining_marks_stay_with_their_letters(text, words):
    # Before 0.30.0 vowel signs and viramas were blanked as punctuation: "வணக கம".
    assert tokenize(normalise_text(text)) == words


def test_mark_ranges_hold_only_combining_marks():
    import unicodedata

    from scamclf.ngrams import _MARKS

    spans = [[int(end, 16) for end in span.split("-")] for span in _MARKS.split()]
    written = {c for span in spans for c in range(span[0], span[-1] + 1)}
    assert all(unicodedata.category(chr(c)) in ("Mn", "Mc", "Cn") for c in written)
    # Every BMP mark this Python knows is written out, but those of later Unicode versions than 14.0.
    known = {
        c
        for c in range(0x10000)
        if unicodedata.category(chr(c)) in ("Mn", "Mc") and not (0x20D0 <= c <= 0x20FF or 0xFE00 <= c <= 0xFE0F)
    }
    if unicodedata.unidata_version == "14.0.0":
        assert written == known
    else:
        # Later versions add marks (few); earlier ones lack some written here (unassigned then).
        assert len(known - written) < 50
        assert all(unicodedata.category(chr(c)) == "Cn" for c in written - known)


_INVISIBLES = [
    "\u200b",
    "\u200c",
    "\u200d",
    "\u00ad",
    "\u200e",
    "\u202e",
    "\u2060",
    "\ufeff",
    "\U000e0041",
    "\ufe0f",
    "\u034f",
]


@given(
    st.text(st.sampled_from(list("otp pasword转账 வணக்கம்\n,A")), max_size=30),
    st.lists(st.tuples(st.integers(0, 30), st.sampled_from(_INVISIBLES)), max_size=6),
)
def test_invisible_characters_never_split_a_word(text, inserts):
    # Zero-width spaces and joiners, soft hyphens and direction marks were blanked like punctuation
    # before 0.31.0: "O\u200bT\u200bP" read as "o t p", and the OTP cue was lost.
    hidden = text
    for at, char in sorted(inserts, reverse=True):
        hidden = hidden[:at] + char + hidden[at:]
    assert normalise_text(hidden) == normalise_text(text)


# Unicode 15.1's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt), as written out.
_DEFAULT_IGNORABLE = [
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F),
    (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
]  # fmt: skip


def test_invisible_characters_are_exactly_the_default_ignorable_ones():
    import unicodedata

    from scamclf.config import INVISIBLE

    table = {c for c in range(0x110000) if INVISIBLE.match(chr(c))}
    assert table == {c for first, last in _DEFAULT_IGNORABLE for c in range(first, last + 1)}
    assert len(table) == 4174
    # Every format character this Python knows is among them, but those that show: Arabic and
    # Kaithi number signs, the interlinear annotation marks, Egyptian hieroglyph controls.
    shown = {*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, *range(0xFFF9, 0xFFFC), 0x110BD, 0x110CD}
    shown |= set(range(0x13430, 0x13440))
    known = {c for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"}
    assert known - shown <= table and not (table & shown)
    assert all(unicodedata.category(chr(c)) in ("Cf", "Mn", "Lo", "Cn") for c in table)


def test_digit_modes_change_only_what_the_ngrams_see():
    text = normalise_text("Your code is 4 5 6 7, RM 12,000")
    assert mask_digits(text, "collapse") == "your code is 0 rm 0"
    assert mask_digits(text, "drop") == "your code is rm "
    with pytest.raises(ValueError, match="digits must be one of"):
        mask_digits(text, "hide")
    fitted = {m: ScamFeatures(min_df=1, digits=m).fit([text, "call me at 5"]) for m in ("mask", "collapse", "drop")}
    words = {m: set(f.vectorisers_[0][1].get_feature_names_out()) for m, f in fitted.items()}
    assert "0 0" in words["mask"] and "0 0" not in words["collapse"] and not any("0" in w for w in words["drop"])
    lexicon = {m: f.transform([text]).toarray()[0, -len(f.lexicon_.feature_names) :] for m, f in fitted.items()}
    np.testing.assert_array_equal(lexicon["mask"], lexicon["drop"])


@pytest.mark.parametrize(
    ("text", "tidy"),
    [
        ("uh my code is four five six seven", "my code is 0"),
        ("call nine nine seven\nok um thanks", "call 0\nok thanks"),
        ("nine uh nine seven", "0"),  # a hesitation inside a number
        ("kod dia satu dua tiga", "kod dia 0"),
        ("one lady called two days ago", "one lady called two days ago"),  # speech, not a number
        ("someone phone one two", "someone phone one two"),
        ("summer umbrella errand humm", "summer umbrella errand humm"),
        ("嗯 号码是六二二二 三四个人", "号码是0 三四个人"),
        ("uh\nhello", "hello"),
        ("佢话俾人呃咗钱", "佢话俾人呃咗钱"),  # 呃: Cantonese "to cheat", not a hesitation
        ("", ""),
    ],
)
def test_tidy_speech_drops_hesitations_and_reads_spelt_numbers(text, tidy):
    assert tidy_speech(text) == tidy


@given(
    st.lists(
        st.sampled_from(["uh", "erm", "one", "two", "nine", "satu", "pay", "now", "嗯", "六", "\n", ""]), max_size=30
    )
)
def test_tidy_speech_on_odd_input(words):
    text = normalise_text(" ".join(words))
    tidy = tidy_speech(text)
    assert tidy_speech(tidy) == tidy  # idempotent
    kept = tidy.split()
    assert not set(kept) & {"uh", "erm"} and "嗯" not in tidy
    assert [w for w in kept if w in ("pay", "now")] == [w for w in text.split() if w in ("pay", "now")]


@given(
    st.lists(st.sampled_from(["uh", "hmm", "one", "two", "nine", "pay", "嗯", "六"]), max_size=12),
    st.lists(st.sampled_from([" ", "\n", "\x1c", "\x1f", "\x85", "\u2028", "\t"]), min_size=12, max_size=12),
)
def test_tidy_speech_treats_every_separator_alike_and_a_call_like_its_turns(words, separators):
    text = "".join(w + sep for w, sep in zip(words, separators, strict=False))
    tidy = tidy_speech(text)
    plain = "".join(w + ("\n" if sep in "\n\x1c\x85\u2028" else " ") for w, sep in zip(words, separators, strict=False))
    assert tidy.split() == tidy_speech(plain).split()
    assert tidy.split() == [w for turn in text.splitlines() for w in tidy_speech(turn).split()]


def test_speech_tidying_changes_only_what_the_ngrams_see():
    spelt, written = "uh please call nine nine seven now", "please call 997 now"
    features = ScamFeatures(min_df=1).fit([written, "see you at dinner"])
    assert features.get_params()["speech"] is True
    np.testing.assert_array_equal(
        features.transform([spelt]).toarray()[:, : -len(features.lexicon_.feature_names)],
        features.transform([written]).toarray()[:, : -len(features.lexicon_.feature_names)],
    )
    plain = ScamFeatures(min_df=1, speech=False).fit([written, "see you at dinner"])
    assert (plain.transform([spelt]) != plain.transform([written])).nnz


def test_features_saved_before_the_speech_parameter_keep_the_text_as_it_was():
    import pickle

    features = ScamFeatures(min_df=1, speech=False).fit(["uh pay rm 500 now", "see you at 7"])
    state = features.__dict__.copy()
    del state["speech"]
    old = ScamFeatures.__new__(ScamFeatures)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.get_params()["speech"] is False
    np.testing.assert_array_equal(old.transform(["uh pay"]).toarray(), features.transform(["uh pay"]).toarray())


def test_features_saved_before_the_digits_parameter_still_mask():
    import pickle

    features = ScamFeatures(min_df=1).fit(["pay rm 500 now", "see you at 7"])
    state = features.__dict__.copy()
    del state["digits"]
    old = ScamFeatures.__new__(ScamFeatures)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.get_params()["digits"] == "mask"
    np.testing.assert_array_equal(old.transform(["rm 5 5"]).toarray(), features.transform(["rm 5 5"]).toarray())


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("please move it to the safe account", "safe_account"),
        ("pindahkan ke akaun selamat", "safe_account"),
        ("把钱转到安全账户", "safe_account"),
        ("transfer ke rekening aman", "safe_account"),
        ("read me the otp", "credential_request"),
        ("jangan beritahu sesiapa", "secrecy"),
        ("we will never ask for your pin", "protective_advice"),
        ("不要告诉家人", "secrecy"),
        ("install anydesk now", "remote_access"),
    ],
)
def test_lexicon_matches_cues_in_each_language(text, cue):
    lexicon = load_lexicon()
    counts = lexicon.counts(normalise_text(text))
    assert counts[lexicon.cues.index(cue)] >= 1


def test_lexicon_cues_cite_sources_and_have_polarity():
    import json
    from importlib import resources

    spec = json.loads((resources.files("scamclf") / "data" / "lexicon.json").read_text(encoding="utf-8"))
    for name, cue in spec["cues"].items():
        assert cue["sources"], name
        assert cue["polarity"] in {"scam", "legit"}, name


def test_scam_features_blocks_and_names():
    features = ScamFeatures(min_df=1).fit(["transfer to the safe account", "see you at dinner", "你好安全账户"])
    X = features.transform(["safe account please"])
    names = features.get_feature_names_out()
    assert X.shape == (1, len(names))
    assert {n.split(":")[0] for n in names} == {"w", "c", "lex"}
    assert X.dtype == np.float32


@pytest.mark.parametrize("char_ngram_range", [(2, 4), None])
def test_blocks_built_side_by_side_equal_the_ones_built_in_turn(monkeypatch, char_ngram_range):
    from joblib import parallel_config

    import scamclf.features as features_module

    texts = ["transfer to the safe account now", "see you at dinner", "你好安全账户", "your otp please"] * 5
    serial = ScamFeatures(min_df=1, char_ngram_range=char_ngram_range)
    expected = serial.fit_transform(texts)
    monkeypatch.setattr(features_module, "PARALLEL_FIT_CHARS", 0)
    side_by_side = ScamFeatures(min_df=1, char_ngram_range=char_ngram_range)
    with parallel_config(n_jobs=2):
        got = side_by_side.fit_transform(texts)
    assert (got != expected).nnz == 0 and got.shape == expected.shape
    np.testing.assert_array_equal(side_by_side.get_feature_names_out(), serial.get_feature_names_out())
    assert (side_by_side.transform(texts[:3]) != serial.transform(texts[:3])).nnz == 0


def test_scam_features_rejects_a_single_string():
    with pytest.raises(ValueError, match="Iterable over raw text documents expected"):
        ScamFeatures().fit("just one string")


@given(st.text())
def test_normalise_text_never_fails(text):
    out = normalise_text(text)
    assert isinstance(out, str)
    assert normalise_text(out) == out


@given(
    st.text(alphabet=st.characters(max_codepoint=127))
    | st.sampled_from(["A: ok!!  \t\r\nB:\x1c_x_  y\x0b", "x\x7f\x00y"])
)
def test_ascii_fast_path_of_normalise_text_is_the_general_one(text):
    from scamclf.features import _normalise

    assert _normalise(text, ascii_only=True) == _normalise(text, ascii_only=False)


def test_feature_names_lookup_equals_the_full_list():
    from scamclf.features import FeatureNames

    texts = ["safe account 转账 now", "call me at 0 ok", "polis 安全 account"]
    features = ScamFeatures(min_df=1).fit(texts)
    full = features.get_feature_names_out()
    names = FeatureNames(features)
    assert len(names) == len(full) and [names[i] for i in range(len(full))] == full.tolist()
    columns = np.array([len(full) - 1, 0, 3])
    picked = FeatureNames(features, columns)
    assert [picked[i] for i in range(3)] == full[columns].tolist()
    with pytest.raises(IndexError):
        names[len(full)]
    assert names[columns].tolist() == full[columns].tolist()  # several at once, like an array
    assert names[1:4].tolist() == full[1:4].tolist() and names[[2]].tolist() == [full[2]]
    mask = np.zeros(len(full), dtype=bool)
    mask[[0, 5]] = True
    assert names[mask].tolist() == full[mask].tolist()
    assert names[-1] == full[-1] and picked[-1] == full[columns[-1]]


@given(
    st.text(
        st.sampled_from(
            [*"，。？！：；（）　ＡＢａｂ１２你好的e\u0301\u0327\u2024\u2002\uff0e\u3000", "\u0300", "a", " "]
        )
    )
    | st.text()
)
def test_fast_nfkc_is_nfkc(text):
    import unicodedata

    from scamclf.features import nfkc

    assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_full_width_replacements_are_their_compatibility_decompositions():
    import unicodedata

    from scamclf.features import _FULL_WIDTH

    for wide, narrow in _FULL_WIDTH:
        assert unicodedata.normalize("NFKD", wide) == narrow and narrow.isascii()


@given(st.text(st.sampled_from(list("請轉帳到安全帳戶你好的abc 0")) | st.characters()))
def test_to_simplified_translates_only_when_needed_and_the_same(text):
    from scamclf.features import _t2s_table, to_simplified

    assert to_simplified(text) == text.translate(_t2s_table())


@given(st.text(st.sampled_from([*"ab'\u2019 x0_-\n转"])) | st.text())
def test_apostrophe_pattern_matches_the_look_behind_form(text):
    import re

    from scamclf.features import _APOSTROPHE

    assert _APOSTROPHE.sub("", text) == re.sub(r"(?<=\w)['\u2019](?=\w)", "", text)


def _cue_counts_by_finditer(lexicon, text):
    from scamclf.features import _CJK_ANY, _LATIN_ANY

    out = np.zeros(len(lexicon.cues))
    for script, present in ((lexicon._latin, _LATIN_ANY.search(text)), (lexicon._cjk, _CJK_ANY.search(text))):
        for i, pattern in enumerate(script):
            if present and pattern is not None:
                for m in pattern.finditer(text):
                    if m.end() > m.start():
                        out[lexicon._cue_of(i, text, m.start(), m.end(), cjk=script is lexicon._cjk)] += 1
    return out


_CUE_WORDS = [
    *[
        "police",
        "bukit",
        "aman",
        "arrest",
        "warrant",
        "money",
        "laundering",
        "safe",
        "account",
        "otp",
        "tac",
        "pin",
        "transfer",
        "do",
        "not",
        "tell",
        "anyone",
    ],
    *[
        "never",
        "share",
        "your",
        "the",
        "bank",
        "officer",
        "anydesk",
        "gift",
        "card",
        "polis",
        "akaun",
        "selamat",
        "jangan",
        "beritahu",
        "sesiapa",
        "kod",
    ],
    *["公安局", "安全账户", "验证码", "不要告诉", "转账", "洗钱", "0", "997", "nsrc", "arrested", "arrive", "arrange"],
    *["otp", "will", "not", "if", "anyone", "safe", "account", "tac", "kongsi", "不会", "如果", "\n"],
    *["kirim", "ke", "rek", "aja", "saya", "nanti", "beliin", "mama", "pulsa", "nomor", "baru", "唔好", "话俾", "人"],
]


@given(st.lists(st.lists(st.sampled_from(_CUE_WORDS), max_size=25).map(" ".join), min_size=1, max_size=6))
def test_cue_counts_equal_counting_every_pattern_match(texts):
    lexicon = load_lexicon()
    texts = [normalise_text(t) for t in texts]
    expected = np.array([_cue_counts_by_finditer(lexicon, t) for t in texts])
    np.testing.assert_array_equal(lexicon.count_many(texts), expected)


@given(st.lists(st.sampled_from(_CUE_WORDS), max_size=25).map(" ".join))
def test_first_span_is_the_first_of_all_spans(text):
    lexicon = load_lexicon()
    text = normalise_text(text)
    for cue in lexicon.cues:
        spans = lexicon.spans(text, cue)
        assert lexicon.first_span(text, cue) == (spans[0] if spans else None)


def test_space_table_is_str_isspace_for_every_code_point():
    from scamclf.features import _LAST_SPACE, _space_table

    assert not any(chr(c).isspace() for c in range(_LAST_SPACE + 1, 0x110000))
    table = _space_table()
    assert [c for c in range(_LAST_SPACE + 1) if table[c]] == [c for c in range(_LAST_SPACE + 1) if chr(c).isspace()]


@pytest.mark.parametrize("text", ["vip会员", "VIP会员", "Safe account", "so keep IT secret"])
def test_lexicon_counts_case_insensitive_patterns_where_spans_find_them(text):
    # The opening filters read literals: a (?i) pattern must not be skipped because of its case.
    spec = {
        "cues": {
            "vip": {"polarity": "scam", "zh": ["(?i:VIP)会员"]},
            "safe": {"polarity": "scam", "en": ["(?i:safe) account", "\\bkeep (?i:it) secret"]},
        }
    }
    lexicon = Lexicon(spec)
    counts = lexicon.count_many([text])[0]
    for i, cue in enumerate(lexicon.cues):
        assert counts[i] == len(lexicon.spans(text, cue))
    assert counts.sum() >= 1


def _cue_counts(text: str) -> dict[str, int]:
    """Each lexicon cue's count in ``text`` (normalised as the features normalise it)."""
    lexicon = load_lexicon()
    return dict(zip(lexicon.cues, lexicon.counts(normalise_text(text)), strict=True))


@pytest.mark.parametrize(
    ("text", "cue", "warned"),
    [
        ("public bank will never ask for your pin or otp over the phone", "credential_request", 2),
        ("please read me the otp now", "credential_request", 0),
        ("your account will not be frozen if you transfer the money to the safe account", "safe_account", 0),
        ("we will never ask you to move money to a safe account", "safe_account", 2),
        ("we will never call you\nnow give me your otp", "credential_request", 0),
        ("jangan kongsi nombor tac dengan sesiapa", "credential_request", 1),
        ("sila berikan nombor tac", "credential_request", 0),
        ("银行不会要求您提供验证码", "credential_request", 1),
        ("请把验证码告诉我", "credential_request", 0),
        # Scam lines that only look like warnings (independent review of lexicon v2):
        ("你会不会用网银 把验证码告诉我", "credential_request", 0),
        ("请勿挂断电话 马上转账", "payment_demand", 0),
        ("你的账户不会被冻结只要转账到安全账户", "safe_account", 0),
        ("we will not arrest you just transfer the money", "payment_demand", 0),
        ("do not share this with anyone transfer the money now", "payment_demand", 0),
        ("never mind that read me the otp", "credential_request", 0),
        ("tidak akan ditangkap asalkan pindahkan wang", "payment_demand", 0),
        ("we will never\u2028transfer the money", "payment_demand", 0),
        # Lexicon v3: assurances, Cantonese warnings, retold demands.
        ("i wont take any of your details now and i dont need your ic or otp", "credential_request", 1),
        ("我们不需要您提供任何密码", "credential_request", 1),
        ("我哋唔会问你任何密码", "credential_request", 1),
        ("kami tak minta nombor tac encik", "credential_request", 1),
        ("bank negara never asks anyone to transfer money", "payment_demand", 1),
        ("he told me to move my money to a safe account", "safe_account", 1),
        ("dia suruh saya pindah ke akaun selamat", "safe_account", 1),
        ("他让我把钱转到安全账户", "safe_account", 1),
        # ... and scam lines they must leave alone:
        ("you dont need to go to the bank just give me the otp now", "credential_request", 0),
        ("they want you to transfer the money to a safe account", "safe_account", 0),
        ("你必须马上把钱转到安全账户", "safe_account", 0),
        ("你唔好挂线 而家转账去安全账户", "safe_account", 0),
        # Secrecy and reassurance before a demand are not warnings (v3 as first written read them so):
        ("you dont need to worry transfer the money to the safe account", "safe_account", 0),
        ("no need to panic transfer the money to the safe account", "safe_account", 0),
        ("we do not accept cash please transfer the money to this account", "payment_demand", 0),
        ("tak perlu beri tahu sesiapa pindahkan duit ke akaun selamat", "safe_account", 0),
        ("kami tak minta duit encik pindahkan wang ke akaun selamat", "safe_account", 0),
        ("唔好讲俾人知 转账去安全账户", "safe_account", 0),
        ("唔使话俾屋企人知 你而家转账去安全账户", "safe_account", 0),
        ("不用告诉家人 马上转账到安全账户", "safe_account", 0),
        ("kami tak minta pin encik", "credential_request", 1),
        # Independent review of v3: impersonators as "we", kidnap relays, Cantonese secrecy, filler.
        ("bank negara they asked us to move your money to a safe account", "safe_account", 0),
        ("他们叫我们转账到监管账户", "safe_account", 0),
        ("mum they want me to transfer the money to their account", "payment_demand", 0),
        ("妈 他们要我马上转账 不然就撕票", "payment_demand", 0),
        ("有冇人喺你身边 转账去安全账户", "safe_account", 0),
        ("唔好向任何人透露 你要转账去安全账户", "safe_account", 0),
        ("唔会有事 而家转账去安全账户", "safe_account", 0),
        ("im not going to ask you twice read me the otp", "credential_request", 0),
        ("you dont need any documents read me the tac", "credential_request", 0),
        ("tak perlu kongsi dengan keluarga pindahkan duit ke akaun selamat", "safe_account", 0),
        ("kami tak minta encik transfer duit kepada kami", "payment_demand", 0),
        ("你不用提供什么资料 直接转账到这个账户", "payment_demand", 0),
        ("no need to give me your otp", "credential_request", 1),
        # Lexicon v4: a warning right before the demand, Cantonese demand words ...
        ("we dont ask for your pin", "credential_request", 1),
        ("please do not give your otp to anyone", "credential_request", 1),
        ("there is no such thing as a safe account", "safe_account", 1),
        ("jangan pindahkan duit kepada orang yang tak dikenali", "payment_demand", 1),
        ("bank negara tiada apa yang dipanggil akaun selamat", "safe_account", 1),
        ("encik takde otp lagi ke", "credential_request", 0),  # a question, not a denial
        ("你有没有什么网银", "credential_request", 0),
        ("如果今天没有转账 你就会被逮捕", "payment_demand", 0),
        ("不要转账给陌生人", "payment_demand", 1),
        ("千万不要转账", "payment_demand", 1),
        ("也没有所谓的安全账户", "safe_account", 1),
        ("唔好过数俾陌生人", "payment_demand", 1),
        ("警察唔会叫你转钱去安全戶口", "safe_account", 1),
        # ... and scam lines where something stands between the warning and the demand.
        ("你而家要过数去安全户口", "safe_account", 0),
        ("去ATM撳錢 然后转数快俾我", "payment_demand", 0),
        ("do not hang up give me your otp", "credential_request", 0),
        ("dont ask questions just give me the otp now", "credential_request", 0),
        ("jangan letak telefon pindahkan duit sekarang", "payment_demand", 0),
        ("jangan beri tahu sesiapa bacakan kod tac", "credential_request", 0),
        ("不要挂电话 马上转账", "payment_demand", 0),
        # Independent review of v4: threats, yes/no questions and scam questions stay demands.
        ("if you dont pay the fine today you will be arrested", "payment_demand", 0),
        ("if you do not transfer the money within one hour", "payment_demand", 0),
        ("你可不可以转账到这个账户", "payment_demand", 0),
        ("你要不要转账", "payment_demand", 0),
        ("你手机没有任何验证码吗", "credential_request", 0),
        ("encik takde sebarang otp masuk lagi ke", "credential_request", 0),
        ("theres no safe account", "safe_account", 1),
        ("根本不存在所谓的安全账户", "safe_account", 1),
        # v5: 'nobody ... will ask', 别 and 千祈咪 warn; a channel right after "dont <demand>" coaches.
        ("nobody from the bank will ask for your otp", "credential_request", 1),
        ("nobody will know about this transfer the money to the safe account", "payment_demand", 0),
        ("dont tell anyone give me the otp", "credential_request", 0),
        ("never tell anyone your account is frozen give me the otp", "credential_request", 0),
        ("jangan dedahkan kepada sesiapa kod tac anda", "credential_request", 1),
        ("千万别转账", "payment_demand", 1),
        ("千祈咪过数", "payment_demand", 1),
        ("请分别转账到这两个账户", "payment_demand", 0),
        ("别人叫你转账你就转", "payment_demand", 0),
        ("别把电话挂了 把验证码念给我", "credential_request", 0),
        ("银行不会要求您立即转账", "payment_demand", 1),
        ("dont transfer the money at the counter use the app", "payment_demand", 0),
        ("do not transfer the money at the branch", "payment_demand", 0),
        ("jangan pindahkan duit di kaunter guna aplikasi", "payment_demand", 0),
        ("千万不要转账去柜台", "payment_demand", 0),
        ("千万不要转账 请到银行柜台核实", "payment_demand", 1),
        ("jangan pindahkan duit semak dulu di kaunter", "payment_demand", 1),
        ("our staff will never ask for your pin at the counter", "credential_request", 1),
        ("do not transfer money to anyone who calls you", "payment_demand", 1),
    ],
)
def test_demands_quoted_in_a_warning_count_as_warned(text, cue, warned):
    counts = _cue_counts(text)
    assert counts["warned_demand"] == warned
    assert (counts[cue] > 0) == (warned == 0)
    assert len(load_lexicon().spans(normalise_text(text), "warned_demand")) == warned


@pytest.mark.parametrize(
    ("text", "advice"),
    [
        ("please do not share your otp with anyone", 1),
        ("we will never ask for your pin or otp", 1),
        ("jangan kongsi kod otp dengan sesiapa", 1),
        # Secrecy followed by a demand is not advice (v1 to v3 allowed any 40 characters between).
        ("dont share this with anyone give me the otp", 0),
        ("dont ask questions just give me the otp now", 0),
        ("jangan beri tahu sesiapa bacakan kod tac", 0),
        ("jangan berikan nomor rekening saya kirim kode otp sekarang", 0),
    ],
)
def test_protective_advice_stops_where_a_demand_starts(text, advice):
    counts = _cue_counts(text)
    assert counts["protective_advice"] == advice


@pytest.mark.parametrize(
    ("text", "demand"),
    [
        ("我们通过数据监测发现一笔交易", 0),  # 过数 inside 通过数据 is no transfer
        ("请输入数字密码", 0),  # nor 入数 inside 输入数字 (密码 is a credential, not a payment)
        ("你而家要过数去安全户口", 1),
        ("派出所核查户口", 0),  # household registration, not a safe account
    ],
)
def test_cantonese_demand_words_do_not_match_inside_mandarin_words(text, demand):
    counts = _cue_counts(text)
    assert (counts["payment_demand"] + counts["safe_account"] > 0) == bool(demand)


def _ngram_norms(features: ScamFeatures, texts: list[str]) -> np.ndarray:
    """The row norm of each n-gram block (word, character) of ``texts``."""
    X = features.transform(texts).toarray()
    sizes = [len(vec.get_feature_names_out()) for _, vec in features.vectorisers_]
    edges = np.cumsum([0, *sizes])
    return np.column_stack([np.linalg.norm(X[:, a:b], axis=1) for a, b in itertools.pairwise(edges)])


def test_a_text_far_shorter_than_a_call_carries_little_ngram_weight(corpus, saved_before_norm_floor):
    calls = corpus["text"].tolist()
    floored = ScamFeatures(min_df=1).fit(calls)
    plain = ScamFeatures(min_df=1, norm_floor=None).fit(calls)
    short = ["otp", "who is this", "your code is 4 5 6 7", "ya"]
    # Plain L2 normalisation gives a one-word text the whole n-gram weight of a call ...
    np.testing.assert_allclose(_ngram_norms(plain, short), 1.0, rtol=1e-5)
    # ... the floor gives it weight in proportion to its length (this corpus's calls are one sentence).
    norms = _ngram_norms(floored, short)
    assert (norms < 0.6).all()
    # The default floor is the median training row: calls above it are normalised as before.
    above = (_ngram_norms(floored, calls) > 1 - 1e-6).all(axis=1)
    assert above.sum() >= 4  # the longest calls, above the median in both blocks
    np.testing.assert_allclose(
        floored.transform(calls).toarray()[above], plain.transform(calls).toarray()[above], atol=1e-6
    )
    # Old models (no floor saved) keep plain normalisation.
    state = floored.__getstate__()
    state.pop("norm_floor")
    old = ScamFeatures.__new__(ScamFeatures)
    old.__setstate__(state)
    assert old.norm_floor is None
    # ... and so do their fitted vocabularies, which were saved without a floor too.
    old.vectorisers_ = [(name, saved_before_norm_floor(vec)) for name, vec in floored.vectorisers_]
    old = pickle.loads(pickle.dumps(old))
    np.testing.assert_allclose(old.transform(short).toarray(), plain.transform(short).toarray(), atol=1e-6)


@pytest.mark.parametrize(
    ("text", "advice", "secrecy"),
    [
        # Lexicon v6: the advisories' own words are advice, not a demand for secrecy ...
        ("dont tell anyone the code ok the bank will never ask for it", True, False),
        ("ma remember do not tell anyone your otp", True, False),
        ("never give anyone the verification code", True, False),
        ("jangan beritahu sesiapa kod tac tu", True, False),
        ("不要告诉任何人验证码", True, False),
        # ... unless the caller then asks for the code himself (scam coaching) ...
        ("dont tell anyone the code only read it to me", False, True),
        ("do not tell anyone your pin now read it to me slowly", False, True),
        ("jangan beritahu sesiapa kod tac tu bacakan kat saya sahaja", False, True),
        ("不要告诉任何人验证码 只能告诉我", False, True),
        # ... and keeping the family or the bank out of it is never advice.
        ("dont tell your family the code just read it to me", False, True),
        ("jangan beritahu pihak bank kod otp mereka terlibat dalam kes", False, True),
        ("do not tell anyone about this investigation", False, True),
        # Lexicon v7: the same for Cantonese (Traditional text is converted before matching).
        ("千祈唔好話俾任何人知你嘅驗證碼", True, False),
        ("唔好话俾任何人知你嘅验证码 只能话我知", False, True),
        ("呢件事唔好话俾人知", False, True),
        ("唔好話俾屋企人知", False, True),
    ],
)
def test_never_share_the_code_with_anyone_is_advice_unless_the_caller_wants_it(text, advice, secrecy):
    counts = _cue_counts(text)
    assert (counts["protective_advice"] > 0, counts["secrecy"] > 0) == (advice, secrecy)


@pytest.mark.parametrize(
    ("text", "cue", "expected"),
    [
        # Lexicon v7, Indonesian SMS scripts from the OJK and "mama minta pulsa" advisories (P76, P77):
        ("Kirim ke BRI aja, no rek: 7913-01-000498-506, A/n. Erwin", "payment_demand", True),
        ("transfer saja ke rekening mandiri ya", "payment_demand", True),
        ("Beliin dulu mama pulsa 50.000 di nomor barunya mama", "payment_demand", True),
        ("ini ibu nak tolong isikan pulsa ke nomor baru ibu", "kidnap_family", True),
        ("rek kamu dinyatakan resmi mendapat hadiah", "prize_lure", True),
        # ... not the speaker paying, nor an operator's top-up promotion.
        ("nanti saya transfer ke rekening kamu ya", "payment_demand", False),
        ("aku udah transfer ke rek kamu", "payment_demand", False),
        ("isi pulsa sekarang dapat bonus kuota", "payment_demand", False),
        # Cases an independent review of the first version found (its own probe lines):
        ("mohon ditransfer ke rekening BCA 1234 a/n budi", "payment_demand", True),
        ("bapak bisa transfer ke rekening BRI sekarang juga", "payment_demand", True),
        ("Mama ganti nomor, pulsa habis, tolong isikan ke nomor ini cepat", "payment_demand", True),
        ("Mama ganti nomor, pulsa habis, tolong isikan ke nomor ini cepat", "kidnap_family", True),
        ("dana refund akan di transfer ke rekening anda dalam 3 hari kerja", "payment_demand", False),
        ("gajinya sudah di transfer ke rekening bri masing-masing", "payment_demand", False),
        ("makasih ya udah beliin aku pulsa", "payment_demand", False),
        ("Isikan pulsa Rp50rb sekarang dan dapatkan bonus kuota 10GB", "payment_demand", False),
        ("Selamat siang bu, apakah ini nomor baru ibu? untuk update data", "kidnap_family", False),
        ("nanti bapak ganti password nya lewat aplikasi resmi ya", "kidnap_family", False),
        ("siswa yang dinyatakan mendapat beasiswa harap lapor ke TU", "prize_lure", False),
        ("唔好同銀行借錢啦，利息好貴", "secrecy", False),
        ("出街唔好同人嗌交呀", "secrecy", False),
        ("唔好同任何人分享你嘅密碼同驗證碼", "protective_advice", True),
        ("唔好話俾任何人知你嘅驗證碼，淨係同我講就得", "secrecy", True),
        ("千祈咪話俾人知", "secrecy", True),
    ],
)
def test_indonesian_and_cantonese_scripts_match_their_cues(text, cue, expected):
    assert bool(_cue_counts(text)[cue] > 0) is expected
