"""Text normalisation, the scam-cue lexicon and the TF-IDF feature builder."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "Lexicon",
    "ScamFeatures",
    "load_lexicon",
    "mask_digits",
    "normalise_text",
    "tokenize",
]

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Speaker labels at the start of a turn are transcript formatting, not speech: a model must not
# learn that "A:" means one corpus.
_SPEAKER = re.compile(
    r"(?im)^[ \t]*(?:[ab]|caller|callee|agent|customer|victim|scammer|speaker[ _]?\d+|spk\d*|"
    r"user|system|operator|client|来电者|接听者|客服|用户)[ \t]*[:：][ \t]*"
)
_URL = re.compile(r"(?i)\b(?:https?://|www\.)\S+|\b[a-z0-9.-]+\.(?:com|net|org|my|sg|cn|tw|hk|me|ly|io)/\S*")
_EMAIL = re.compile(r"(?i)\b[\w.+-]+@[\w-]+\.[\w.]+\b")
# Corpus placeholders (e.g. DIGIT, NAME, <PHONE>) are artefacts of how a corpus was anonymised.
_PLACEHOLDER = re.compile(r"<[A-Za-z_]+>|\[[A-Za-z_]+\]|\b(?:DIGIT|NAME|PHONE|URL|EMAIL)\b")
_APOSTROPHE = re.compile(r"(?<=\w)['\u2019](?=\w)")
_PUNCT = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_DIGITS = re.compile(r"\d+")
_TOKEN = re.compile(rf"[{_CJK}]|[^\W\d_{_CJK}]+|\d+")


@lru_cache(maxsize=1)
def _t2s_table() -> dict[int, str]:
    resource = resources.files("scamclf") / "data" / "zh_t2s.json"
    mapping = json.loads(resource.read_text(encoding="utf-8"))
    return str.maketrans(mapping)


def normalise_text(text: str) -> str:
    """Normalise a transcript so that corpus artefacts do not become features.

    NFKC, lower case, Traditional to Simplified Chinese, speaker labels, URLs, e-mail addresses
    and placeholders replaced, punctuation removed; one turn per line is kept. Digits are kept
    (the lexicon needs "997"); :func:`mask_digits` removes them for the n-gram features.

    >>> normalise_text("A: Hello, THIS is Bukit Aman!\\nB: 喂？你們是誰")
    'hello this is bukit aman\\n喂 你们是谁'
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = unicodedata.normalize("NFKC", text)
    text = _PLACEHOLDER.sub(" ", text)
    text = text.lower().translate(_t2s_table())
    text = _SPEAKER.sub("", text)
    text = _URL.sub(" url ", text)
    text = _EMAIL.sub(" email ", text)
    text = _APOSTROPHE.sub("", text)
    text = _PUNCT.sub(" ", text)
    text = _SPACES.sub(" ", text)
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


def mask_digits(text: str) -> str:
    """Replace every run of digits with ``0``: amounts and numbers vary, their presence does not."""
    return _DIGITS.sub("0", text)


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
        self.version = spec.get("version")
        self.cues: list[str] = []
        self.polarity: dict[str, str] = {}
        self._latin: list[re.Pattern[str] | None] = []
        self._cjk: list[re.Pattern[str] | None] = []
        for name, cue in spec["cues"].items():
            self.cues.append(name)
            self.polarity[name] = cue["polarity"]
            latin = [p for lang in ("en", "ms", "id") for p in cue.get(lang, [])]
            self._latin.append(_compile_alternatives(latin))
            self._cjk.append(_compile_alternatives(cue.get("zh", [])))
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

    def _active(self, text: str) -> list[list[re.Pattern[str] | None]]:
        blocks = []
        if _LATIN_ANY.search(text):
            blocks.append(self._latin)
        if _CJK_ANY.search(text):
            blocks.append(self._cjk)
        return blocks

    def counts(self, text: str) -> np.ndarray:
        """Return the number of matches of each cue in normalised ``text``."""
        counts = np.zeros(len(self.cues), dtype=np.float64)
        for patterns in self._active(text):
            for i, pattern in enumerate(patterns):
                if pattern is not None:
                    counts[i] += len(pattern.findall(text))
        return counts

    def spans(self, text: str, cue: str) -> list[tuple[int, int]]:
        """Return the character spans of ``cue`` matches in normalised ``text``, in order."""
        i = self.cues.index(cue)
        found = [
            m.span()
            for patterns in self._active(text)
            if patterns[i] is not None
            for m in patterns[i].finditer(text)
            if m.end() > m.start()
        ]
        return sorted(found)

    def features(self, text: str) -> np.ndarray:
        """Return the cue feature vector (log counts, cue pairs, number of distinct scam cues)."""
        counts = self.counts(text)
        present = counts > 0
        index = {c: i for i, c in enumerate(self.cues)}
        pairs = [float(present[index[a]] and present[index[b]]) for a, b in self.pairs]
        kinds = sum(present[index[c]] for c in self.cues if self.polarity[c] == "scam")
        return np.concatenate([np.log1p(counts), pairs, [math.log1p(kinds)]])


_LATIN_ANY = re.compile(r"[a-z]")
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
    resource = resources.files("scamclf") / "data" / "lexicon.json"
    return Lexicon(json.loads(resource.read_text(encoding="utf-8")))


def _identity(text: str) -> str:
    return text


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
        lexicon_weight: float = 1.0,
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.lexicon_weight = lexicon_weight

    def _vectorisers(self) -> list[tuple[str, TfidfVectorizer]]:
        common = dict(
            lowercase=False,
            preprocessor=_identity,
            sublinear_tf=True,
            min_df=self.min_df,
            max_features=self.max_features,
            dtype=np.float32,
        )
        out = [
            (
                "w",
                TfidfVectorizer(
                    analyzer="word",
                    tokenizer=tokenize,
                    token_pattern=None,
                    ngram_range=self.word_ngram_range,
                    **common,
                ),
            )
        ]
        if self.char_ngram_range is not None:
            out.append(("c", TfidfVectorizer(analyzer="char_wb", ngram_range=self.char_ngram_range, **common)))
        return out

    def fit(self, X: Any, y: Any = None) -> ScamFeatures:
        """Learn the vocabularies and IDF weights from raw transcripts ``X``."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X: Any, y: Any = None) -> sp.csr_matrix:
        """Fit on raw transcripts ``X`` and return their feature matrix."""
        normalised, masked = _prepare(X)
        self.vectorisers_ = self._vectorisers()
        blocks = [vec.fit_transform(masked) for _, vec in self.vectorisers_]
        self.lexicon_ = load_lexicon() if self.lexicon_weight else None
        blocks.append(self._lexicon_block(normalised))
        self.n_features_out_ = sum(b.shape[1] for b in blocks)
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def transform(self, X: Any) -> sp.csr_matrix:
        """Return the feature matrix of raw transcripts ``X``."""
        check_is_fitted(self, "vectorisers_")
        normalised, masked = _prepare(X)
        blocks = [vec.transform(masked) for _, vec in self.vectorisers_]
        blocks.append(self._lexicon_block(normalised))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def _lexicon_block(self, normalised: list[str]) -> sp.csr_matrix:
        if self.lexicon_ is None:
            return sp.csr_matrix((len(normalised), 0), dtype=np.float32)
        rows = (
            np.vstack([self.lexicon_.features(t) for t in normalised])
            if normalised
            else np.zeros((0, len(self.lexicon_.feature_names)))
        )
        return sp.csr_matrix(rows * self.lexicon_weight, dtype=np.float32)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Return feature names prefixed by block: ``w:`` words, ``c:`` characters, ``lex:`` cues."""
        check_is_fitted(self, "vectorisers_")
        names: list[str] = []
        for prefix, vec in self.vectorisers_:
            names.extend(f"{prefix}:{n}" for n in vec.get_feature_names_out())
        if self.lexicon_ is not None:
            names.extend(f"lex:{n}" for n in self.lexicon_.feature_names)
        return np.asarray(names, dtype=object)


def _prepare(X: Any) -> tuple[list[str], list[str]]:
    """Normalised texts (for the lexicon) and their digit-masked form (for the n-grams)."""
    normalised = [normalise_text(t) for t in _as_texts(X)]
    return normalised, [mask_digits(t) for t in normalised]


def _as_texts(X: Any) -> list[str]:
    if isinstance(X, str):
        raise ValueError("Iterable over raw text documents expected, string object received.")
    return ["" if t is None or (isinstance(t, float) and t != t) else str(t) for t in X]
