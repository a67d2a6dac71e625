"""Text normalisation, the scam-cue lexicon and the TF-IDF feature builder."""

from __future__ import annotations

import json
import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from functools import lru_cache
from importlib import resources
from typing import Any, overload

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .config import drop_invisible
from .ngrams import CJK_RANGES, MARK_RANGES, TOKEN_PATTERN, NgramTfidf, text_slices

__all__ = [
    "KNOWN_SCRIPT_MIN_SHARE",
    "TOKEN_PATTERN",
    "FeatureNames",
    "Lexicon",
    "ScamFeatures",
    "as_texts",
    "known_scripts",
    "load_lexicon",
    "mask_digits",
    "normalise_text",
    "script_of_letter",
    "tidy_speech",
    "tokenize",
]

_CJK = CJK_RANGES
# Speaker labels at the start of a turn are transcript formatting, not speech: a model must not
# learn that "A:" means one corpus.
# Numbered or lettered labels of diarising recognisers: "Speaker 1", "SPEAKER_00", "Speaker A",
# "spk_0", "Guest-1", "Person 2", "Participant 3".
_NUMBERED_LABEL = (
    r"(?:speaker(?:[ _-]?\d+|[ _-][a-z]\b)|spk[ _-]?\d+|guest[ _-]?\d+|person[ _-]?\d+|participant[ _-]?\d+)"
)
_SPEAKER = re.compile(
    rf"(?im)^[ \t]*(?:[ab]|caller|callee|agent|customer|victim|scammer|{_NUMBERED_LABEL}|spk\d*|"
    r"user|system|operator|client|recipient|receiver|interviewer|respondent|"
    r"来电者|接听者|客服|用户|说话人 ?\d*|发言人 ?\d*|讲话人 ?\d*|角色 ?\d+|坐席|客户|来电人|主叫|被叫)[ \t]*[:：][ \t]*"
)
# The same labels without a colon: in brackets at the start of a turn ("[SPEAKER_01] hello",
# "(Speaker A) hello"), alone on a line with the turn's start time ("Speaker 1  0:03", as
# meeting-notes exports write it), and WebVTT voice tags ("<v Speaker 1>hello</v>").
_LABEL_WITHOUT_COLON = re.compile(
    rf"(?im)^[ \t]*[\[(]{_NUMBERED_LABEL}[\])][ \t]*"
    rf"|^[ \t]*{_NUMBERED_LABEL}[ \t]*(?:\d{{1,2}}(?::\d{{2}}){{1,2}}(?:[.,]\d{{1,3}})?)?[ \t]*$"
    r"|<v(?:\.[\w.-]+)*(?:[ \t][^>\n]*)?>|</v>"
)
_LABEL_HINTS = ("speaker", "spk", "guest", "person", "participant", "<v")
# Timestamps that recognisers and subtitle exports put around turns ("[00:01:23]", "0:05 hello",
# SRT/WebVTT "00:00:01,000 --> 00:00:04,000" with its cue number) are formatting, not speech: left
# in, they become digit tokens, which scam corpora full of phone numbers and amounts taught to
# mean "scam". A bare "10:30" inside a turn, or as the whole turn, is speech (a time of day) and stays.
_TS = r"\d{1,2}(?::\d{2}){1,2}(?:[.,]\d{1,3})?"
# An SRT cue number, and the start of the time range that must follow it.
_CUE_NUMBER_SRC = r"[ \t]*\d+[ \t]*"
_CUE_TIME_RANGE_SRC = rf"[ \t]*{_TS}[ \t]*-->"
_TIMESTAMP = re.compile(
    rf"(?m:^{_CUE_NUMBER_SRC}\r?\n(?={_CUE_TIME_RANGE_SRC}))"  # an SRT cue number before its time range
    rf"|{_TS}[ \t]*-->[ \t]*{_TS}"
    rf"|[\[(]{_TS}[\])]"
    r"|\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d{1,3})?\b"
    rf"|(?m:^[ \t]*{_TS}(?=[ \t]+\S))"  # "0:05 hello"; a turn that is only "9:00" is an answer
)
_CUE_NUMBER = re.compile(_CUE_NUMBER_SRC)
_CUE_TIME_RANGE = re.compile(_CUE_TIME_RANGE_SRC)


def _is_cue_number(line: str, next_line: str) -> bool:
    """Whether ``line`` is a subtitle cue number: digits alone, followed by the cue's time range.

    Normalisation removes it from a whole text (``_TIMESTAMP``); a caller that splits the text into
    lines first (turn by turn) asks here, because the line alone is a number someone could say.
    """
    return bool(_CUE_NUMBER.fullmatch(line)) and bool(_CUE_TIME_RANGE.match(next_line))


# Start and end times in seconds, as some recognisers print them ("[0.00s - 3.20s]", "(12.5 --> 15.0)").
_SECONDS_SPAN = re.compile(
    r"[\[(][ \t]*(?:\d+(?:\.\d+)?s[ \t]*(?:-|–|-->|to)[ \t]*\d+(?:\.\d+)?s"
    r"|\d+(?:\.\d+)?[ \t]*-->[ \t]*\d+(?:\.\d+)?)[ \t]*[\])]"
)
_SECONDS_HINT = re.compile(r"\ds?[ \t]*(?:-|–|-->|to)[ \t]*\d")
# Every timestamp holds ":" and two digits; a pattern opening with a literal is a fast scan, so
# texts with speaker labels but no timestamp skip the five alternatives above.
_TIMESTAMP_HINT = re.compile(r":\d\d")
_URL = re.compile(r"(?i)\b(?:https?://|www\.)\S+|\b[a-z0-9.-]+\.(?:com|net|org|my|sg|cn|tw|hk|me|ly|io)/\S*")
_EMAIL = re.compile(r"(?i)\b[\w.+-]+@[\w-]+\.[\w.]+\b")
# Corpus placeholders (e.g. DIGIT, NAME, <PHONE>) are artefacts of how a corpus was anonymised.
_PLACEHOLDER = re.compile(r"<[A-Za-z_]+>|\[[A-Za-z_]+\]|\b(?:DIGIT|NAME|PHONE|URL|EMAIL)\b")
# An apostrophe between word characters ("don't"). Written to start with the apostrophe (then
# look back) so the engine jumps from apostrophe to apostrophe: 4x faster than a leading
# look-behind, same matches (tested).
_APOSTROPHE = re.compile(r"['\u2019](?<=\w['\u2019])(?=\w)")
_PLACEHOLDER_WORDS = ("DIGIT", "NAME", "PHONE", "URL", "EMAIL")
# Punctuation becomes a space and runs of horizontal space collapse to one, in one pass. Combining
# marks are not punctuation: they are part of the word in Indic, Thai or Khmer script (since 0.30.0;
# before, "வணக்கம்" came out as "வணக கம").
_PUNCT_OR_SPACES = re.compile(rf"(?:[^\w\s{MARK_RANGES}]|_|[ \t\r\f\v])+")
# The ASCII characters that pattern matches, each to a space; then runs of spaces become one.
_ASCII_BLANKS = str.maketrans({chr(c): " " for c in range(128) if _PUNCT_OR_SPACES.fullmatch(chr(c))})
_SPACE_RUN = re.compile(" {2,}")
# ASCII whitespace the blanking above keeps besides space and newline (str.split splits on it).
_ASCII_SEPARATORS = re.compile("[\x1c-\x1f]")
_DIGITS = re.compile(r"\d+")
# A number as speech-to-text writes it: digit runs split by spaces, dots, commas or dashes
# ("123 456", "4 5 6 7", "rm 5,000.00") are one number, not several.
_NUMBER = re.compile(r"\d+(?:[ .,-]?\d+)*")
DIGIT_MODES = ("mask", "collapse", "drop")
_TOKEN = re.compile(TOKEN_PATTERN)
# Speech-to-text writes hesitations ("uh", "erm", "嗯"; not 呃, also Cantonese for "to cheat")
# that carry nothing but the genre (one conversational corpus is full of them), and some
# recognisers spell numbers out digit by digit ("nine nine seven", "kosong satu dua", "六二二二")
# where others write digits. Three or more
# digit words in a row are a number (a code, an account, a hotline); fewer are speech ("one lady").
_HESITATIONS = frozenset(["uh", "uhh", "uhm", "um", "umm", "er", "err", "erm", "hm", "hmm", "mm", "mmm", "mhm", "huh"])
_DIGIT_WORDS = frozenset(
    [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "kosong",
        "satu",
        "dua",
        "tiga",
        "empat",
        "lima",
        "enam",
        "tujuh",
        "lapan",
        "delapan",
        "sembilan",
        "nol",
    ]
)
# Substring tests (fast scans) that every text holding a hesitation or a digit word passes.
_HESITATION_STARTS = ("uh", "um", "er", "hm", "mm", "mh", "hu")
_HESITATION_MARKS = tuple(f"{sep}{h}" for sep in " \n" for h in _HESITATION_STARTS)
_DIGIT_MARKS = tuple(f" {w} " for w in sorted(_DIGIT_WORDS))  # a run's middle word
# Whitespace other than spaces and newlines (normalised text keeps the rarer turn separators such
# as \x1c and \u2028): the substring tests above would miss a hesitation after one.
_ODD_SPACE = re.compile(r"[^\S \n]")
_SPOKEN_HANZI = re.compile(r"[零〇幺一二三四五六七八九]{3,}")
_ONE_DIGIT_WORD = "(?:" + "|".join(sorted(_DIGIT_WORDS)) + ")"
#: A number as :func:`tidy_speech` finds it spelt out (evidence maps a masked ``0`` back to it).
SPOKEN_NUMBER_PATTERN = rf"(?<!\S)(?:{_ONE_DIGIT_WORD} ){{2,}}{_ONE_DIGIT_WORD}(?!\S)|{_SPOKEN_HANZI.pattern}"


@lru_cache(maxsize=1)
def _t2s_table() -> dict[int, str]:
    resource = resources.files("scamclf") / "data" / "zh_t2s.json"
    mapping = json.loads(resource.read_text(encoding="utf-8"))
    return str.maketrans(mapping)


@lru_cache(maxsize=1)
def _traditional() -> np.ndarray:
    # One flag per code point. Finding out that a text has no Traditional character this way
    # is several times cheaper than translating it (a regex class of 4,000 characters is slower).
    flags = np.zeros(0x110000, dtype=bool)
    flags[list(_t2s_table())] = True
    return flags


def to_simplified(text: str) -> str:
    """Map Traditional Chinese characters to Simplified ones (the bundled table).

    >>> to_simplified("請轉帳")
    '请转帐'
    """
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return text.translate(_t2s_table()) if _traditional()[points].any() else text


def normalise_text(text: str) -> str:
    """Normalise a transcript so that corpus artefacts do not become features.

    Invisible format characters (zero-width spaces and joiners, soft hyphens, direction marks)
    deleted, NFKC, lower case, Traditional to Simplified Chinese, speaker labels, URLs, e-mail
    addresses and placeholders replaced, punctuation removed; one turn per line is kept. Digits are kept
    (the lexicon needs "997"); :func:`mask_digits` removes them for the n-gram features.

    >>> normalise_text("A: Hello, THIS is Bukit Aman!\\nB: 喂？你們是誰")
    'hello this is bukit aman\\n喂 你们是谁'
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    return _normalise(text, ascii_only=text.isascii())


def _normalise(text: str, *, ascii_only: bool) -> str:
    # ASCII text is its own NFKC form and holds no Chinese, and its punctuation can be blanked
    # with a translation table (then runs of spaces squeezed), several times faster than the
    # Unicode-aware pattern; the result is the same (tested).
    if not ascii_only:
        text = nfkc(drop_invisible(text))
    # Each pattern runs only when the text holds a character it needs (a substring test is
    # far cheaper than a regex scan); the result is the same.
    if "<" in text or "[" in text or any(p in text for p in _PLACEHOLDER_WORDS):
        text = _PLACEHOLDER.sub(" ", text)
    text = text.lower()
    if not ascii_only:
        text = to_simplified(text)
    if ":" in text and _TIMESTAMP_HINT.search(text):
        text = _TIMESTAMP.sub(" ", text)
    if ("[" in text or "(" in text) and _SECONDS_HINT.search(text):
        text = _SECONDS_SPAN.sub(" ", text)
    if ":" in text or "：" in text:
        text = _SPEAKER.sub("", text)
    if any(h in text for h in _LABEL_HINTS):
        text = _LABEL_WITHOUT_COLON.sub("", text)
    if "/" in text or "www." in text:
        text = _URL.sub(" url ", text)
    if "@" in text:
        text = _EMAIL.sub(" email ", text)
    if "'" in text or "\u2019" in text:
        text = _APOSTROPHE.sub("", text)
    if ascii_only:
        text = text.translate(_ASCII_BLANKS)
        if not _ASCII_SEPARATORS.search(text):
            # Only spaces and newlines are left as whitespace: splitting each line on spaces
            # squeezes and strips it in one step (the same as the two below; tested).
            return "\n".join(filter(None, (" ".join(line.split()) for line in text.split("\n"))))
        text = _SPACE_RUN.sub(" ", text)
    else:
        text = _PUNCT_OR_SPACES.sub(" ", text)
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


# Full-width punctuation common in Chinese transcripts, each with the one ASCII character that
# is its whole compatibility decomposition (checked by a test).
_FULL_WIDTH = (
    ("，", ","),
    ("？", "?"),
    ("！", "!"),
    ("：", ":"),
    ("；", ";"),
    ("（", "("),
    ("）", ")"),
    ("\u3000", " "),
)


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, faster on Chinese text with full-width punctuation.

    Full-width punctuation fails NFKC's quick check, which sends a whole transcript down the
    slow path. Replacing such characters by the one ASCII character they decompose to first
    changes nothing in the result (ASCII characters decompose to themselves and, like them,
    do not reorder with combining marks), and the rest usually passes the quick check.

    >>> nfkc("你好，ＯＫ？")
    '你好,OK?'
    """
    for wide, narrow in _FULL_WIDTH:
        if wide in text:
            text = text.replace(wide, narrow)
    return unicodedata.normalize("NFKC", text)


def mask_digits(text: str, mode: str = "mask") -> str:
    """Hide numbers from the n-gram features: amounts and numbers vary, their presence does not.

    ``mask`` replaces every run of digits with ``0``; ``collapse`` replaces a whole number,
    however it is spaced ("4 5 6 7"), with one ``0``; ``drop`` removes numbers.

    >>> mask_digits("code 4 5 6 7 rm 12000", "mask"), mask_digits("code 4 5 6 7 rm 12000", "collapse")
    ('code 0 0 0 0 rm 0', 'code 0 rm 0')
    >>> mask_digits("code 4 5 6 7 rm 12000", "drop")
    'code rm '
    """
    if mode == "mask":
        return _DIGITS.sub("0", text)
    if mode == "collapse":
        return _NUMBER.sub("0", text)
    if mode == "drop":
        return _SPACE_RUN.sub(" ", _NUMBER.sub("", text))
    raise ValueError(f"digits must be one of {', '.join(DIGIT_MODES)}, got {mode!r}")


def tidy_speech(text: str) -> str:
    """Drop hesitations and read digit-by-digit numbers as numbers (for the n-gram features).

    >>> tidy_speech("uh call nine nine seven erm a lady said\\n嗯 号码是六二二二")
    'call 0 a lady said\\n号码是0'
    """
    dropped = False
    if not text.isascii():
        if "嗯" in text:
            text, dropped = text.replace("嗯", ""), True
        text = _SPOKEN_HANZI.sub("0", text)
    if not (
        dropped
        or text.startswith(_HESITATION_STARTS)
        or any(mark in text for mark in _HESITATION_MARKS)
        or any(mark in text for mark in _DIGIT_MARKS)
        or _ODD_SPACE.search(text)
    ):
        return text
    lines = []
    # Turn by turn as str.splitlines (and turns.split_turns) splits them, so a whole call and
    # its turns one at a time are tidied alike.
    for line in text.splitlines():
        words: list[str] = []
        run = 0  # digit words at the end of ``words``
        for word in line.split():
            if word in _HESITATIONS:
                continue
            if word in _DIGIT_WORDS:
                run += 1
                if run == 3:  # the third in a row: the run is a number
                    del words[-2:]
                    words.append("0")
                elif run < 3:
                    words.append(word)
                continue
            run = 0
            words.append(word)
        if words:
            lines.append(" ".join(words))
    return "\n".join(lines)


def tokenize(text: str) -> list[str]:
    """Split normalised text into words, single CJK characters and digit runs.

    >>> tokenize("transfer 0 ringgit 到安全账户")
    ['transfer', '0', 'ringgit', '到', '安', '全', '账', '户']
    """
    return _TOKEN.findall(text)


class Lexicon:
    """The curated scam-cue lexicon: per cue, one pattern for Latin-script and one for CJK text.

    Splitting by script lets a transcript skip the patterns of a script it does not contain, and
    factoring the shared leading ``\\b`` out of the Latin alternatives lets the regex engine give
    up at once between word boundaries: together about four times faster than one pattern.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.version = spec.get("version")
        self.cues: list[str] = []
        self.polarity: dict[str, str] = {}
        self._latin: list[re.Pattern[str] | None] = []
        self._cjk: list[re.Pattern[str] | None] = []
        # Latin cues are tried only where a word starts with one of their possible openings.
        self._openings: dict[str, list[int]] = {}
        # CJK cues are tried only on texts holding a character one of their matches opens with
        # (None: not known, always tried).
        self._cjk_first: list[frozenset[str] | None] = []
        for name, cue in spec["cues"].items():
            i = len(self.cues)
            self.cues.append(name)
            self.polarity[name] = cue["polarity"]
            latin = [p for lang in ("en", "ms", "id") for p in cue.get(lang, [])]
            self._latin.append(_compile_alternatives(latin))
            self._cjk.append(_compile_alternatives(cue.get("zh", [])))
            first = set().union(*(_openings(p, width=1) for p in cue.get("zh", [])))
            self._cjk_first.append(None if "" in first else frozenset(first))
            for opening in set().union(*(_openings(p) for p in latin)) if latin else ():
                self._openings.setdefault(opening, []).append(i)
        # Warnings quote the demands they warn about ("we will never ask for your otp"): a
        # demand cue matched shortly after a warning opener counts as the pseudo-cue named by
        # ``negation.feature`` instead of as itself (NegEx-style, with clause breakers).
        negation = spec.get("negation")
        self._negatable: frozenset[int] = frozenset()
        self._negated_cue: int | None = None
        if negation:
            self._negatable = frozenset(self.cues.index(c) for c in negation["cues"])
            self._neg_window = int(negation.get("window", 45))
            self._neg_window_cjk = int(negation.get("window_cjk", 12))
            self._neg_latin = _compile_alternatives([p for lang in ("en", "ms", "id") for p in negation.get(lang, [])])
            self._neg_cjk = _compile_alternatives(negation.get("zh", []))
            self._neg_breaks = re.compile("|".join(f"(?:{p})" for p in negation.get("breaks", [])) or "(?!)")
            # A channel named right after the demand ("dont transfer it at the counter") makes the
            # warning coaching on how to pay (v5; earlier lexicons have none).
            coaching = negation.get("coaching", {})
            self._coach_latin = _compile_alternatives(
                [p for lang in ("en", "ms", "id") for p in coaching.get(lang, [])]
            )
            self._coach_cjk = _compile_alternatives(coaching.get("zh", []))
            self._negated_cue = len(self.cues)
            self.cues.append(negation["feature"])
            self.polarity[negation["feature"]] = "legit"
            self._latin.append(None)
            self._cjk.append(None)
            self._cjk_first.append(None)
        scam = [c for c in self.cues if self.polarity[c] == "scam"]
        # Script shape: authority or accusation together with a money/credential demand is the
        # core of an impersonation scam; either alone is common in genuine calls.
        self.pairs = [
            ("authority_claim", "payment_demand"),
            ("authority_claim", "credential_request"),
            ("authority_claim", "safe_account"),
            ("accusation", "payment_demand"),
            ("accusation", "secrecy"),
            ("authority_claim", "secrecy"),
            ("accusation", "handoff"),
            ("urgency_threat", "credential_request"),
            ("remote_access", "credential_request"),
        ]
        self.pairs = [(a, b) for a, b in self.pairs if a in scam and b in scam]
        self.feature_names = [*self.cues, *(f"{a}&{b}" for a, b in self.pairs), "scam_cue_kinds"]

    def __getstate__(self) -> dict[str, Any]:
        # Only the specification is saved: compiled patterns are rebuilt on loading, so a model
        # file holds no regular expression objects.
        return {"spec": self.spec}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"])  # type: ignore[misc]

    def _active(self, text: str) -> list[list[re.Pattern[str] | None]]:
        blocks = []
        if _LATIN_ANY.search(text):
            blocks.append(self._latin)
        if _CJK_ANY.search(text):
            blocks.append(self._cjk)
        return blocks

    def counts(self, text: str) -> np.ndarray:
        """Return the number of matches of each cue in normalised ``text``."""
        return self.count_many([text])[0]

    def count_many(self, texts: list[str]) -> np.ndarray:
        """Return the number of matches of each cue (columns) in each normalised text (rows).

        The same as counting ``findall`` of each cue's pattern. Latin-script patterns are tried
        only at word starts that open like one of their alternatives (see :func:`_openings`);
        the word starts of the whole batch are found and keyed with array operations, so Python
        sees a few dozen candidates per call transcript instead of scanning it once per cue.
        """
        counts = np.zeros((len(texts), len(self.cues)), dtype=np.float64)
        latin: list[int] = []
        for row, text in enumerate(texts):
            if not text.isascii() and _CJK_ANY.search(text):
                chars = set(text)
                for i, (pattern, first) in enumerate(zip(self._cjk, self._cjk_first, strict=True)):
                    if pattern is not None and (first is None or not first.isdisjoint(chars)):
                        if i in self._negatable:
                            for m in pattern.finditer(text):
                                counts[row, self._cue_of(i, text, m.start(), m.end(), cjk=True)] += 1
                        else:
                            counts[row, i] += len(pattern.findall(text))
            if _LATIN_ANY.search(text):
                latin.append(row)
        for a, b in text_slices([texts[r] for r in latin]) if latin else ():
            self._count_latin(texts, latin[a:b], counts)
        return counts

    def _count_latin(self, texts: list[str], rows: list[int], counts: np.ndarray) -> None:
        docs = [texts[r] for r in rows]
        doc, pos, cue = _word_start_candidates(docs, self._opening_index())
        match = [None if pattern is None else pattern.match for pattern in self._latin]
        negatable = self._negatable
        n_cues = len(self.cues)
        # Per document and cue: where the last match ended (like findall, matches of one cue do
        # not overlap) and how many there were. Plain lists: this loop runs per candidate.
        resume = [[0] * n_cues for _ in docs]
        found = [[0] * n_cues for _ in docs]
        for d, p, i in zip(doc.tolist(), pos.tolist(), cue.tolist(), strict=True):
            after = resume[d]
            if p >= after[i]:
                m = match[i](docs[d], p)  # type: ignore[misc]
                if m is not None:
                    end = m.end()
                    if end > p:
                        found[d][self._cue_of(i, docs[d], p, end) if i in negatable else i] += 1
                        after[i] = end
        counts[rows] += np.asarray(found, dtype=np.float64).reshape(len(docs), n_cues)

    def _cue_of(self, cue: int, text: str, start: int, end: int, cjk: bool = False) -> int:
        """``cue``, or the negated pseudo-cue when a warning opens shortly before ``start``.

        The window ends at the start of the line (a turn) and at a clause breaker ("if", "but")
        after the warning: "your account will not be frozen if you transfer the money" asserts.
        A demand of ``start:end`` followed by a channel ("... at the counter") stays a demand.
        """
        if cue not in self._negatable:
            return cue
        window = self._neg_window_cjk if cjk else self._neg_window
        lo = max(max(text.rfind(b, 0, start) for b in _LINE_BREAKS) + 1, start - window)
        pattern = self._neg_cjk if cjk else self._neg_latin
        if pattern is None:
            return cue
        warnings = list(pattern.finditer(text, lo, start))
        if not warnings or self._neg_breaks.search(text, warnings[-1].end(), start):
            return cue
        # Coaching is read only where the opener stands right before the demand ("dont transfer
        # the money at the counter"), not after a warning's own words ("never ask ... at the counter").
        coaching = self._coach_cjk if cjk else self._coach_latin
        if (
            coaching is not None
            and not text[warnings[-1].end() : start].strip()
            and coaching.match(text, end, min(len(text), end + window))
        ):
            return cue
        return self._negated_cue  # type: ignore[return-value]

    def _opening_index(self) -> dict[int, tuple[pd.Index, list[list[int]]]]:
        """Per opening length, the openings as integer keys and the cues each opening starts."""
        index = self.__dict__.get("_opening_keys")
        if index is None:
            index = {}
            for length in range(4):
                found = [(o, cues) for o, cues in self._openings.items() if len(o) == length]
                keys = [_pack([ord(ch) for ch in o]) for o, _ in found]
                index[length] = (pd.Index(keys, dtype=np.int64), [cues for _, cues in found])
            self._opening_keys = index
        return index

    def spans(self, text: str, cue: str) -> list[tuple[int, int]]:
        """Return the character spans of ``cue`` matches in normalised ``text``, in order."""
        i = self.cues.index(cue)
        if i == self._negated_cue:  # the warned-about demands
            return sorted(span for j in self._negatable for span in self._raw_spans(text, j, want=i))
        return sorted(self._raw_spans(text, i, want=i))

    def _raw_spans(self, text: str, i: int, want: int) -> list[tuple[int, int]]:
        """Spans of cue ``i``'s matches that count as cue ``want`` (itself, or negated)."""
        found = []
        for patterns in self._active(text):
            if patterns[i] is None:
                continue
            cjk = patterns is self._cjk
            for m in patterns[i].finditer(text):
                if m.end() > m.start() and (
                    i not in self._negatable or self._cue_of(i, text, m.start(), m.end(), cjk) == want
                ):
                    found.append(m.span())
        return found

    def first_span(self, text: str, cue: str) -> tuple[int, int] | None:
        """``spans(text, cue)[0]`` (or ``None``), without finding the matches after the first."""
        i = self.cues.index(cue)
        if i in self._negatable or i == self._negated_cue:
            spans = self.spans(text, cue)
            return spans[0] if spans else None
        firsts = [
            next((m.span() for m in patterns[i].finditer(text) if m.end() > m.start()), None)
            for patterns in self._active(text)
            if patterns[i] is not None
        ]
        return min((span for span in firsts if span is not None), default=None)

    def features(self, text: str) -> np.ndarray:
        """Return the cue feature vector (log counts, cue pairs, number of distinct scam cues)."""
        return self.feature_matrix([text])[0]

    def feature_matrix(self, texts: list[str]) -> np.ndarray:
        """Return :meth:`features` of each normalised text, one row each."""
        return self.features_from_counts(self.count_many(texts))

    def features_from_counts(self, counts: np.ndarray) -> np.ndarray:
        """The cue features of rows of cue counts (as :meth:`count_many` returns them)."""
        counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
        present = counts > 0
        index = {c: i for i, c in enumerate(self.cues)}
        pairs = np.column_stack(
            [present[:, index[a]] & present[:, index[b]] for a, b in self.pairs] or [np.zeros(len(counts), dtype=bool)]
        )[:, : len(self.pairs)]
        scam = [index[c] for c in self.cues if self.polarity[c] == "scam"]
        kinds = present[:, scam].sum(axis=1, keepdims=True)
        return np.hstack([np.log1p(counts), pairs.astype(np.float64), np.log1p(kinds.astype(np.float64))])


_LATIN_ANY = re.compile(r"[a-z]")
# Where str.splitlines splits turns: a warning does not reach across a turn.
_LINE_BREAKS = ("\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def _pack(points: list[int] | np.ndarray) -> int:
    """One integer for up to three code points (21 bits each)."""
    key = 0
    for point in points:
        key = (key << 21) | int(point)
    return key


@lru_cache(maxsize=1)
def _space_table() -> np.ndarray:
    """``chr(c).isspace()`` for every code point, as one array (1.1 MB).

    Unicode has no whitespace above U+3000 (ideographic space), so only that far is tested.
    """
    table = np.zeros(0x110000, dtype=bool)
    table[[c for c in range(_LAST_SPACE + 1) if chr(c).isspace()]] = True
    return table


_LAST_SPACE = 0x3000


def _word_start_candidates(
    docs: list[str], index: dict[int, tuple[pd.Index, list[list[int]]]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (document, word start, cue) where the cue's pattern could match, in text order.

    Normalised text holds only word characters and whitespace, so a word starts at a
    non-space character that follows a space or opens the document.
    """
    offsets = np.cumsum([0] + [len(d) + 1 for d in docs])
    points = np.frombuffer("\n".join(docs).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    space = _space_table()[points]
    before = np.concatenate([[True], space[:-1]])
    starts = np.flatnonzero(~space & before)
    padded = np.concatenate([points, np.zeros(3, dtype=np.int64)])
    doc_of = np.searchsorted(offsets, starts, side="right") - 1
    found_doc, found_pos, found_cue = [], [], []
    for length, (keys, cues) in index.items():
        if not len(keys):
            continue
        if length == 0:
            hit, which = np.arange(len(starts)), np.zeros(len(starts), dtype=np.int64)
        else:
            packed = np.zeros(len(starts), dtype=np.int64)
            for k in range(length):
                packed = (packed << 21) | padded[starts + k]
            which = keys.get_indexer(packed)
            hit = np.flatnonzero(which >= 0)
            which = which[hit]
        if not len(hit):
            continue
        # Group the hits by opening (a stable sort keeps each group in text order).
        order = np.argsort(which, kind="stable")
        which, hit = which[order], hit[order]
        bounds = np.flatnonzero(np.diff(which)) + 1
        for at, opening in zip(np.split(hit, bounds), which[np.concatenate([[0], bounds])].tolist(), strict=True):
            if not len(at):
                continue
            for cue in cues[opening]:
                found_doc.append(doc_of[at])
                found_pos.append(starts[at] - offsets[doc_of[at]])
                found_cue.append(np.full(len(at), cue, dtype=np.int64))
    if not found_doc:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    doc, pos, cue = (np.concatenate(a) for a in (found_doc, found_pos, found_cue))
    order = np.lexsort((pos, doc))
    return doc[order], pos[order], cue[order]


def _openings(pattern: str, width: int = 3) -> set[str]:
    """The texts of up to ``width`` characters that a match of ``pattern`` can open with.

    A shorter string means the opening is only known that far (a character class, the end of
    the pattern); ``""`` means unknown: try the pattern at every word start.

    >>> sorted(_openings(r"\\b(?:arrest warrant|be arrested|drugs?)\\b"))
    ['arr', 'be ', 'dru']
    >>> sorted(_openings(r"\\bcv\\d"))
    ['cv']
    """
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    def walk(items: list[Any], left: int) -> set[str]:
        if left == 0 or not items:
            return {""}
        op, av = items[0]
        rest = items[1:]
        if op is c.LITERAL:
            return {chr(av) + tail for tail in walk(rest, left - 1)}
        if op is c.AT:  # \b and the like: zero width
            return walk(rest, left)
        if op is c.ASSERT_NOT:  # (?<!...), (?!...): zero width, only rules matches out
            return walk(rest, left)
        if op is c.SUBPATTERN:
            if av[1] & c.SRE_FLAG_IGNORECASE:  # (?i:...): the literals do not say the opening
                return {""}
            return walk(list(av[-1]) + rest, left)
        if op is c.BRANCH:
            return set().union(*(walk(list(alt) + rest, left) for alt in av[1]))
        if op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] == 0 and av[1] == 1:  # optional part
            return walk(rest, left) | walk(list(av[2]) + rest, left)
        return {""}

    return walk(list(_parser.parse(pattern)), width)


_CJK_ANY = re.compile(rf"[{_CJK}]")


def _compile_alternatives(patterns: list[str]) -> re.Pattern[str] | None:
    """Compile alternatives into one pattern, factoring out a leading ``\\b`` they all share."""
    if not patterns:
        return None
    if all(p.startswith("\\b") for p in patterns):
        return re.compile("\\b(?:" + "|".join(f"(?:{p[2:]})" for p in patterns) + ")")
    return re.compile("|".join(f"(?:{p})" for p in patterns))


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """Load the lexicon shipped with the package (``scamclf/data/lexicon.json``)."""
    return Lexicon(shipped_lexicon_specs()[0])


# Earlier lexicon versions, kept verbatim as ``lexicon_v<N>.json`` so models trained with them
# still load and score as they did (a saved model carries its own lexicon specification).
_EARLIER_LEXICON = re.compile(r"lexicon_v(\d+)\.json")


def shipped_lexicon_specs() -> list[dict[str, Any]]:
    """The lexicon specifications this scamclf ships: the current one first, then earlier versions
    (newest first)."""
    folder = resources.files("scamclf") / "data"
    earlier = {int(m[1]): m[0] for m in (_EARLIER_LEXICON.fullmatch(f.name) for f in folder.iterdir()) if m}
    names = ["lexicon.json", *(earlier[v] for v in sorted(earlier, reverse=True))]
    return [json.loads((folder / name).read_text(encoding="utf-8")) for name in names]


#: Fitting builds the feature blocks side by side (worker processes) from this many characters
#: of text: about 5,000 call transcripts; below it, starting workers costs more than it saves.
PARALLEL_FIT_CHARS = 5_000_000


# Everything but letters (digits, "_", spaces, and the combining marks, which ride on a letter).
_NON_LETTERS = re.compile(r"[\W\d_]+")
# ASCII and the CJK ideograph blocks (every character there is named "CJK ... IDEOGRAPH").
_ASCII_OR_CJK = re.compile(rf"[\x00-\x7f{CJK_RANGES}]+")
#: A script counts as known when at least this share of the training text's letters are in it: a
#: few names or symbols of a script in a large corpus teach nothing about texts written in it.
KNOWN_SCRIPT_MIN_SHARE = 0.01


@lru_cache(maxsize=65_536)
def script_of_letter(letter: str) -> str:
    """The script of one letter, as the first word of its Unicode name (``"LATIN"``, ``"CJK"``,
    ``"TAMIL"``, ``"HANGUL"``, ``"HIRAGANA"``, ...; ``""`` for an unnamed character).

    >>> script_of_letter("a"), script_of_letter("到"), script_of_letter("வ")
    ('LATIN', 'CJK', 'TAMIL')
    """
    return unicodedata.name(letter, "").split(" ", 1)[0]


def known_scripts(normalised: list[str]) -> str:
    """The scripts that hold at least :data:`KNOWN_SCRIPT_MIN_SHARE` of the letters of
    ``normalised`` (after :func:`normalise_text`), space-separated and sorted.

    >>> known_scripts(["hello there, how are you today? " * 4, "你好吗", "ok வ"])  # one Tamil letter in 100
    'CJK LATIN'
    """
    counts: Counter[str] = Counter()
    for letter, n in Counter(_NON_LETTERS.sub("", "".join(normalised))).items():
        counts[script_of_letter(letter)] += n
    total = sum(counts.values())
    return " ".join(sorted(name for name, n in counts.items() if name and n >= KNOWN_SCRIPT_MIN_SHARE * total))


def _fit_block(vectoriser: NgramTfidf, texts: list[str]) -> tuple[NgramTfidf, sp.csr_matrix]:
    return vectoriser, vectoriser.fit_transform(texts)


def _lexicon_rows(lexicon: Lexicon | None, weight: float, normalised: list[str]) -> sp.csr_matrix:
    if lexicon is None:
        return sp.csr_matrix((len(normalised), 0), dtype=np.float32)
    return sp.csr_matrix(lexicon.feature_matrix(normalised) * weight, dtype=np.float32)


class ScamFeatures(TransformerMixin, BaseEstimator):
    """Word and character TF-IDF plus lexicon cue features over normalised transcripts.

    Parameters
    ----------
    word_ngram_range : tuple of int
        n-gram range over words (CJK text counts each character as a word).
    char_ngram_range : tuple of int or None
        ``char_wb`` n-gram range; ``None`` turns character n-grams off.
    min_df : int
        Minimum document frequency of an n-gram.
    max_features : int or None
        Cap on each vocabulary.
    lexicon_weight : float
        Scale of the lexicon block (0 turns it off): it sets how strongly the regularised linear
        model can lean on the curated cues rather than corpus vocabulary.
    digits : {"mask", "collapse", "drop"}
        How the n-gram blocks see numbers (see :func:`mask_digits`); the lexicon always sees them.
    speech : bool
        The n-gram blocks drop hesitations and read digit-by-digit numbers as numbers
        (:func:`tidy_speech`), so a recogniser's habits do not move the score (since 0.11.0).
    norm_floor : float or None
        Floor of the n-gram blocks' row norms, as a fraction of the median training row's
        (see :class:`NgramTfidf`): a text far shorter than the training calls ("1", "who is
        this") carries proportionally little n-gram weight rather than a whole call's, so a
        lone digit is not scored as a scam. The default 1.0 puts the floor at the median
        training row: on the bundled corpus, calls are far above it and single queries and
        SMS at or below it (chosen between 0.3 and 1.0 on the leave-one-source-out benchmark,
        ``benchmarks/README.md``). ``None``: plain L2 normalisation (models saved before 0.13.0).

    Examples
    --------
    >>> f = ScamFeatures(min_df=1).fit(["transfer to a safe account", "see you at dinner"])
    >>> f.transform(["safe account now"]).shape[0]
    1
    """

    def __init__(
        self,
        *,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] | None = (2, 4),
        min_df: int = 2,
        max_features: int | None = 150_000,
        lexicon_weight: float = 2.0,
        digits: str = "mask",
        speech: bool = True,
        norm_floor: float | None = 1.0,
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.lexicon_weight = lexicon_weight
        self.digits = digits
        self.speech = speech
        self.norm_floor = norm_floor

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("digits", "mask")  # models saved before the parameter masked digits
        state.setdefault("speech", False)  # ... and before 0.11.0 kept hesitations and digit words
        state.setdefault("norm_floor", None)  # ... and before 0.13.0 normalised short texts fully
        super().__setstate__(state)

    def ngram_texts(self, normalised: list[str]) -> list[str]:
        """The text the n-gram blocks see: normalised transcripts with numbers hidden (``digits``),
        tidied of recogniser habits (``speech``)."""
        if self.speech:
            normalised = [tidy_speech(t) for t in normalised]
        return [mask_digits(t, self.digits) for t in normalised]

    def _vectorisers(self) -> list[tuple[str, NgramTfidf]]:
        common = dict(sublinear_tf=True, min_df=self.min_df, max_features=self.max_features)
        floor = 0.0 if self.norm_floor is None else float(self.norm_floor)
        out = [
            (
                "w",
                NgramTfidf(
                    analyzer="word",
                    token_pattern=TOKEN_PATTERN,
                    ngram_range=self.word_ngram_range,
                    norm_floor=floor,
                    **common,
                ),
            )
        ]
        if self.char_ngram_range is not None:
            out.append(
                (
                    "c",
                    NgramTfidf(analyzer="char_wb", ngram_range=self.char_ngram_range, norm_floor=floor, **common),
                )
            )
        return out

    def fit(self, X: Any, y: Any = None) -> ScamFeatures:
        """Learn the vocabularies and IDF weights from raw transcripts ``X``."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X: Any, y: Any = None) -> sp.csr_matrix:
        """Fit on raw transcripts ``X`` and return their feature matrix.

        The word, character and lexicon blocks are independent: on large inputs they are built
        side by side in worker processes, as many as joblib's active configuration allows
        (``with joblib.parallel_config(n_jobs=2): ...``; one by one without it).
        """
        from joblib import Parallel, delayed

        normalised = [normalise_text(t) for t in as_texts(X)]
        masked = self.ngram_texts(normalised)
        self.lexicon_ = load_lexicon() if self.lexicon_weight else None
        vectorisers = self._vectorisers()
        tasks = [delayed(_fit_block)(vec, masked) for _, vec in vectorisers]
        tasks.append(delayed(_lexicon_rows)(self.lexicon_, self.lexicon_weight, normalised))
        if sum(map(len, masked)) >= PARALLEL_FIT_CHARS:
            # The slowest block (characters) first, so that the others share the second worker.
            chars = [i for i, (name, _) in enumerate(vectorisers) if name == "c"]
            order = chars + [i for i in range(len(tasks)) if i not in chars]
            done: list[Any] = [None] * len(tasks)
            for i, result in zip(order, Parallel(prefer="processes")(tasks[i] for i in order), strict=True):
                done[i] = result
        else:
            done = [function(*args, **kwargs) for function, args, kwargs in tasks]
        self.vectorisers_ = [(name, vec) for (name, _), (vec, _) in zip(vectorisers, done, strict=False)]
        self.known_scripts_ = known_scripts(normalised)
        blocks = [block for _, block in done[:-1]] + [done[-1]]
        self.n_features_out_ = sum(b.shape[1] for b in blocks)
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def transform(self, X: Any) -> sp.csr_matrix:
        """Return the feature matrix of raw transcripts ``X``."""
        return self.transform_normalised([normalise_text(t) for t in as_texts(X)])

    def transform_normalised(self, normalised: list[str]) -> sp.csr_matrix:
        """Return the feature matrix of transcripts already passed through :func:`normalise_text`."""
        check_is_fitted(self, "vectorisers_")
        masked = self.ngram_texts(normalised)
        blocks = [vec.transform(masked) for _, vec in self.vectorisers_]
        blocks.append(self._lexicon_block(normalised))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def unfamiliar_letters(self, normalised: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Per text: the share of its letters in a script the training text did not hold
        (:func:`known_scripts`), how many such letters it has, and the script most of them are in
        (``""`` when none).

        A text in a script the model never saw (Tamil, Thai, Korean for the bundled corpus) gets no
        n-gram and no cue, and so the score of an empty text, whatever it says. Models saved before
        0.30.0 did not record their scripts: every share is 0.

        >>> f = ScamFeatures(min_df=1).fit(["transfer to a safe account", "转账到安全账户"] * 3)
        >>> shares, counts, scripts = f.unfamiliar_letters(["safe account", "안전 계좌 abc", "12 34"])
        >>> shares.round(2).tolist(), counts.tolist(), scripts
        ([0.0, 0.57, 0.0], [0, 4, 0], ['', 'HANGUL', ''])
        """
        shares = np.zeros(len(normalised))
        counts = np.zeros(len(normalised), dtype=np.int64)
        scripts = [""] * len(normalised)
        known = getattr(self, "known_scripts_", None)
        if known is None:
            return shares, counts, scripts
        known_set = set(known.split())
        # Texts of ASCII and CJK ideographs only (most calls) hold no unfamiliar letter when both
        # scripts are known: a C-speed strip answers for them (scoring Chinese calls spent about a
        # tenth of its time counting letters one by one before this).
        common = {"LATIN", "CJK"} <= known_set
        for i, text in enumerate(normalised):
            if text.isascii() and "LATIN" in known_set:
                continue
            if common and not _NON_LETTERS.sub("", _ASCII_OR_CJK.sub("", text)):
                continue
            letters = Counter(_NON_LETTERS.sub("", text))
            unknown: Counter[str] = Counter()
            for letter, n in letters.items():
                script = script_of_letter(letter)
                if script not in known_set:
                    unknown[script] += n
            if unknown:
                counts[i] = sum(unknown.values())
                shares[i] = counts[i] / sum(letters.values())
                scripts[i] = unknown.most_common(1)[0][0]
        return shares, counts, scripts

    def _lexicon_block(self, normalised: list[str]) -> sp.csr_matrix:
        return _lexicon_rows(self.lexicon_, self.lexicon_weight, normalised)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Return feature names prefixed by block: ``w:`` words, ``c:`` characters, ``lex:`` cues."""
        check_is_fitted(self, "vectorisers_")
        names: list[str] = []
        for prefix, vec in self.vectorisers_:
            names.extend(f"{prefix}:{n}" for n in vec.get_feature_names_out())
        if self.lexicon_ is not None:
            names.extend(f"lex:{n}" for n in self.lexicon_.feature_names)
        return np.asarray(names, dtype=object)


class FeatureNames:
    """``ScamFeatures.get_feature_names_out()[i]`` one name at a time, optionally through ``columns``.

    Explanations need the names of a few columns per transcript; building all 300k names as
    Python strings costs tens of MB in every worker process (and their reference counts keep
    copying shared pages). The names are sliced from each vectoriser's term string instead.

    >>> f = ScamFeatures(min_df=1).fit(["safe account", "call me"])
    >>> names = FeatureNames(f)
    >>> names[0], len(names) == len(f.get_feature_names_out())
    ('w:account', True)
    """

    def __init__(self, features: ScamFeatures, columns: np.ndarray | None = None) -> None:
        from .ngrams import _SEP

        self._blocks: list[tuple[int, str, str, np.ndarray, np.ndarray]] = []
        start = 0
        for prefix, vec in features.vectorisers_:
            terms = vec.terms_
            points = np.frombuffer(terms.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            cuts = np.flatnonzero(points == ord(_SEP))
            lo = np.concatenate([[0], cuts + 1])
            hi = np.concatenate([cuts, [len(terms)]])
            self._blocks.append((start, prefix, terms, lo, hi))
            start += len(lo)
        self._starts = [block[0] for block in self._blocks]
        self._lexicon_start = start
        self._lexicon = list(features.lexicon_.feature_names) if features.lexicon_ is not None else []
        self._columns = None if columns is None else np.asarray(columns, dtype=np.int64)

    def __len__(self) -> int:
        return self._lexicon_start + len(self._lexicon) if self._columns is None else len(self._columns)

    @overload
    def __getitem__(self, i: int | np.integer) -> str: ...

    @overload
    def __getitem__(self, i: slice | list[int] | np.ndarray) -> np.ndarray: ...

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            i = range(*i.indices(len(self)))
        if not isinstance(i, int | np.integer):  # several: an object array, as numpy indexing gives
            many = np.asarray(i)
            if many.dtype == bool:
                if many.shape != (len(self),):
                    raise IndexError(f"boolean index of shape {many.shape} for {len(self)} features")
                many = np.flatnonzero(many)
            return np.asarray([self[int(j)] for j in many.ravel()], dtype=object).reshape(many.shape)
        if not -len(self) <= i < len(self):
            raise IndexError(f"feature {i} out of range")
        i = int(i) % len(self)
        column = int(i if self._columns is None else self._columns[i])
        if column >= self._lexicon_start:
            return f"lex:{self._lexicon[column - self._lexicon_start]}"
        start, prefix, terms, lo, hi = self._blocks[bisect_right(self._starts, column) - 1]
        j = column - start
        return f"{prefix}:{terms[lo[j] : hi[j]]}"


def as_texts(X: Any) -> list[str]:
    """Return documents ``X`` as strings (missing ones as ``""``); a bare string is refused."""
    if isinstance(X, str):
        raise ValueError("Iterable over raw text documents expected, string object received.")
    return ["" if t is None or (isinstance(t, float) and t != t) else str(t) for t in X]
