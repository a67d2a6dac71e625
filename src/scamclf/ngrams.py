"""TF-IDF over word or ``char_wb`` n-grams, equal to scikit-learn's ``TfidfVectorizer``, but fast.

scikit-learn's analyzers build every n-gram of every document in Python: for character n-grams
that is about a thousand string slices and dictionary look-ups per call transcript, and it was
nine tenths of scoring time. Words repeat (Zipf's law), so this vectoriser works on *units*
(whitespace tokens for ``char_wb``, tokens for ``word``):

- ``char_wb``: each distinct unit of a batch is analysed once (and remembered across batches);
  a document's counts are then ``D @ T``, a sparse product of document-unit counts and
  unit-n-gram counts.
- ``word``: units are numbered once per batch; an n-gram is a tuple of unit numbers, matched
  against the vocabulary with a binary search over integer keys.

Vocabulary, document frequencies, the ``max_features`` cut, the IDF, sublinear TF and L2
normalisation follow scikit-learn's definitions, and ``tests/test_ngrams.py`` checks the output
against ``TfidfVectorizer`` itself. The fitted state is a few arrays and one string (the
vocabulary joined by newlines), so a model file loads quickly through the restricted unpickler.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import chain, repeat
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import normalize
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "CJK_RANGES",
    "KNOWN_TOKEN_PATTERNS",
    "LEGACY_TOKEN_PATTERN",
    "MARK_RANGES",
    "TOKEN_PATTERN",
    "NgramTfidf",
    "char_wb_ngrams",
    "text_slices",
]

#: The CJK ideograph blocks, as a regex class body.
CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"


# The combining marks (Unicode categories Mn and Mc) of the Basic Multilingual Plane as of Unicode
# 14.0, as code points and ranges (hexadecimal). Python's ``\w`` leaves them out, yet in Indic, Thai,
# Khmer or Myanmar script they are part of the word: Tamil "வணக்கம்" holds two (viramas), and a
# pattern built on ``\w`` alone cuts it into "வணக" and "கம". Variation selectors
# (U+FE00-FE0F) and the marks drawn on symbols (U+20D0-20FF) are left out: they follow emoji, not
# letters. Written out rather than read from ``unicodedata`` so that the token pattern, which every
# saved model records, is the same on every Python version.
_MARKS = (
    "0300-036F 0483-0487 0591-05BD 05BF 05C1-05C2 05C4-05C5 05C7 0610-061A 064B-065F 0670 06D6-06DC 06DF-06E4 "
    "06E7-06E8 06EA-06ED 0711 0730-074A 07A6-07B0 07EB-07F3 07FD 0816-0819 081B-0823 0825-0827 0829-082D "
    "0859-085B 0898-089F 08CA-08E1 08E3-0903 093A-093C 093E-094F 0951-0957 0962-0963 0981-0983 09BC 09BE-09C4 "
    "09C7-09C8 09CB-09CD 09D7 09E2-09E3 09FE 0A01-0A03 0A3C 0A3E-0A42 0A47-0A48 0A4B-0A4D 0A51 0A70-0A71 0A75 "
    "0A81-0A83 0ABC 0ABE-0AC5 0AC7-0AC9 0ACB-0ACD 0AE2-0AE3 0AFA-0AFF 0B01-0B03 0B3C 0B3E-0B44 0B47-0B48 "
    "0B4B-0B4D 0B55-0B57 0B62-0B63 0B82 0BBE-0BC2 0BC6-0BC8 0BCA-0BCD 0BD7 0C00-0C04 0C3C 0C3E-0C44 0C46-0C48 "
    "0C4A-0C4D 0C55-0C56 0C62-0C63 0C81-0C83 0CBC 0CBE-0CC4 0CC6-0CC8 0CCA-0CCD 0CD5-0CD6 0CE2-0CE3 0D00-0D03 "
    "0D3B-0D3C 0D3E-0D44 0D46-0D48 0D4A-0D4D 0D57 0D62-0D63 0D81-0D83 0DCA 0DCF-0DD4 0DD6 0DD8-0DDF 0DF2-0DF3 "
    "0E31 0E34-0E3A 0E47-0E4E 0EB1 0EB4-0EBC 0EC8-0ECD 0F18-0F19 0F35 0F37 0F39 0F3E-0F3F 0F71-0F84 0F86-0F87 "
    "0F8D-0F97 0F99-0FBC 0FC6 102B-103E 1056-1059 105E-1060 1062-1064 1067-106D 1071-1074 1082-108D 108F "
    "109A-109D 135D-135F 1712-1715 1732-1734 1752-1753 1772-1773 17B4-17D3 17DD 180B-180D 180F 1885-1886 18A9 "
    "1920-192B 1930-193B 1A17-1A1B 1A55-1A5E 1A60-1A7C 1A7F 1AB0-1ABD 1ABF-1ACE 1B00-1B04 1B34-1B44 1B6B-1B73 "
    "1B80-1B82 1BA1-1BAD 1BE6-1BF3 1C24-1C37 1CD0-1CD2 1CD4-1CE8 1CED 1CF4 1CF7-1CF9 1DC0-1DFF 2CEF-2CF1 2D7F "
    "2DE0-2DFF 302A-302F 3099-309A A66F A674-A67D A69E-A69F A6F0-A6F1 A802 A806 A80B A823-A827 A82C A880-A881 "
    "A8B4-A8C5 A8E0-A8F1 A8FF A926-A92D A947-A953 A980-A983 A9B3-A9C0 A9E5 AA29-AA36 AA43 AA4C-AA4D AA7B-AA7D "
    "AAB0 AAB2-AAB4 AAB7-AAB8 AABE-AABF AAC1 AAEB-AAEF AAF5-AAF6 ABE3-ABEA ABEC-ABED FB1E FE20-FE2F "
)
#: Combining marks that belong to the letters they follow, as a regex class body.
MARK_RANGES = "".join("-".join(chr(int(end, 16)) for end in span.split("-")) for span in _MARKS.split())
#: scamclf's word token: one CJK character, a run of letters with the combining marks inside and
#: after it, a run of digits, or a run of marks that follows no letter. (Each repetition opens
#: with a mark, which no letter is, so the pattern cannot backtrack; findall takes about 1.2x the
#: time of the letters-only pattern, and most texts skip it, see ``_fast_tokens``.)
TOKEN_PATTERN = rf"[{CJK_RANGES}]|[^\W\d_{CJK_RANGES}]+(?:[{MARK_RANGES}][^\W\d_{CJK_RANGES}]*)*|\d+|[{MARK_RANGES}]+"
#: The token pattern of models saved before 0.30.0, which split words at combining marks; such
#: models still load and score as they did.
LEGACY_TOKEN_PATTERN = rf"[{CJK_RANGES}]|[^\W\d_{CJK_RANGES}]+|\d+"
KNOWN_TOKEN_PATTERNS = (TOKEN_PATTERN, LEGACY_TOKEN_PATTERN)
# ASCII text made only of these (letters, the digit 0, whitespace that splits both ways) is
# tokenised by TOKEN_PATTERN exactly as by str.split once each "0" stands alone.
_SIMPLE_ASCII = bytes(c for c in range(128) if chr(c).isalpha() or chr(c) in "0 \t\n\r\x0b\x0c")
# In text of CJK characters, lone "0" digits and whitespace, every other character is a token.
_NOT_CJK_SIMPLE = re.compile(rf"[^{CJK_RANGES}0\s]|00")

_CACHE_LIMIT = 200_000
_SEP = "\n"  # no term contains a newline: units never contain whitespace
# Rebuilt from the fitted state on first use; never pickled.
_DERIVED = ("_vocab", "_index", "_compiled", "_unit_cache")


def char_wb_ngrams(unit: str, min_n: int, max_n: int) -> list[str]:
    """Return scikit-learn's ``char_wb`` n-grams of one whitespace-free unit.

    >>> char_wb_ngrams("ok", 2, 3)
    [' o', 'ok', 'k ', ' ok', 'ok ']
    >>> char_wb_ngrams("a", 2, 4)
    [' a', 'a ', ' a ']
    """
    w = f" {unit} "
    w_len = len(w)
    out: list[str] = []
    for n in range(min_n, max_n + 1):
        if w_len <= n:  # a short word counts once, whole
            out.append(w)
            break
        out.extend(w[i : i + n] for i in range(w_len - n + 1))
    return out


class NgramTfidf(TransformerMixin, BaseEstimator):
    """TF-IDF of word or ``char_wb`` n-grams (smooth IDF, L2 norm), as ``TfidfVectorizer``.

    Parameters
    ----------
    analyzer : {"word", "char_wb"}
        ``word``: n-grams of the tokens ``token_pattern`` finds; ``char_wb``: character n-grams
        inside whitespace-separated words, padded with a space.
    token_pattern : str
        Regular expression of a token (``word`` only). A token must not contain whitespace.
    ngram_range : tuple of int
        Smallest and largest n; word n-grams up to 3.
    min_df : int
        Keep n-grams found in at least this many documents.
    max_features : int or None
        Keep at most this many n-grams, the most frequent in the corpus.
    sublinear_tf : bool
        Use ``1 + log(tf)`` instead of raw counts.
    norm_floor : float
        Divide each row by its L2 norm or by a floor, whichever is larger: the floor is this
        fraction of the median norm of the training rows that hold an n-gram (``norm_floor_``). 0, the default, is
        plain L2 normalisation, as scikit-learn's. With a floor, a text of a word or two carries
        proportionally little weight instead of the full weight of a whole call.

    Examples
    --------
    >>> v = NgramTfidf(ngram_range=(1, 2)).fit(["safe account", "a safe call"])
    >>> v.get_feature_names_out().tolist()
    ['account', 'call', 'safe', 'safe account', 'safe call']
    >>> v.transform(["safe account now"]).nnz
    3
    """

    def __init__(
        self,
        *,
        analyzer: str = "word",
        token_pattern: str = r"(?u)\b\w\w+\b",
        ngram_range: tuple[int, int] = (1, 1),
        min_df: int = 1,
        max_features: int | None = None,
        sublinear_tf: bool = False,
        norm_floor: float = 0.0,
    ) -> None:
        self.analyzer = analyzer
        self.token_pattern = token_pattern
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.norm_floor = norm_floor

    # --- fitting ---------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> NgramTfidf:
        """Learn the vocabulary and IDF from documents ``X``."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X: Any, y: Any = None) -> sp.csr_matrix:
        """Fit on documents ``X`` and return their TF-IDF matrix."""
        self._check_params()
        docs = _documents(X)
        self._reset_cache()
        if self.analyzer == "char_wb":
            counts, terms = self._fit_counts_char(docs)
        else:
            counts, terms = self._fit_counts_word(docs)
        if not terms:
            raise ValueError("empty vocabulary: the documents contain no tokens")
        counts, terms = self._limit(counts, terms)
        df = np.bincount(counts.indices, minlength=counts.shape[1]).astype(np.float32)
        n = np.float32(counts.shape[0] + 1)
        self.idf_ = (np.log(n / (df + 1)) + 1).astype(np.float32)
        self.terms_ = _SEP.join(terms)
        self.n_features_out_ = len(terms)
        X = self._weighted(counts)
        if not self.norm_floor:
            self.norm_floor_ = 0.0
            return self._normalised(X)
        norms = _row_norms(X)  # computed once: for the median and for the rows themselves
        # The median over rows that hold an n-gram: rows with none (a lone digit, punctuation)
        # would otherwise pull the floor down, to 0 once they are half the corpus.
        held = norms[norms > 0]
        self.norm_floor_ = float(self.norm_floor * np.median(held)) if len(held) else 0.0
        return self._normalised(X, norms)

    def _check_params(self) -> None:
        if self.analyzer not in ("word", "char_wb"):
            raise ValueError(f"analyzer must be 'word' or 'char_wb', not {self.analyzer!r}")
        lo, hi = self.ngram_range
        if not 1 <= lo <= hi:
            raise ValueError(f"ngram_range must be (min_n, max_n) with 1 <= min_n <= max_n, not {self.ngram_range}")
        if self.analyzer == "word" and hi > 3:
            raise ValueError("word n-grams are limited to n <= 3")
        if int(self.min_df) < 1:
            raise ValueError("min_df must be a positive integer")
        if not is_norm_floor(self.norm_floor):
            raise ValueError(f"norm_floor must be a finite number >= 0, not {self.norm_floor!r}")

    def _fit_counts_char(self, docs: list[str]) -> tuple[sp.csr_matrix, list[str]]:
        doc_of, codes, uniques = _units(docs, str.split)
        lo, hi = self.ngram_range
        found = _unit_grams_vectorised(uniques, lo, hi) if 2 <= lo <= 3 else None
        unit_grams, terms = found if found is not None else _unit_grams_by_unit(uniques, lo, hi)
        counts = _doc_unit_matrix(doc_of, codes, len(docs), len(uniques)) @ unit_grams
        return _keep_min_df(sp.csr_matrix(counts), terms, int(self.min_df))

    def _fit_counts_word(self, docs: list[str]) -> tuple[sp.csr_matrix, list[str]]:
        doc_of, codes, uniques = _units(docs, self._tokenizer())
        if self.token_pattern not in KNOWN_TOKEN_PATTERNS and any(u.split() != [u] for u in uniques):
            # Terms are stored as tokens joined by spaces: an empty token or one holding a space
            # would be misread as a different n-gram.
            raise ValueError(
                f"token_pattern {self.token_pattern} finds empty tokens or tokens holding whitespace; "
                "each token must be one or more non-space characters"
            )
        n_units = len(uniques)
        blocks: list[sp.csr_matrix] = []
        terms: list[str] = []
        lo, hi = self.ngram_range
        for n in range(lo, hi + 1):
            keys, rows = _ngram_keys(codes, doc_of, n, n_units)
            if len(keys) == 0:
                continue
            inverse, ukeys = pd.factorize(keys)  # hashing, not sorting: _limit sorts the vocabulary
            block = sp.csr_matrix(
                (np.ones(len(keys), dtype=np.float32), (rows, inverse)), shape=(len(docs), len(ukeys))
            )
            block.sum_duplicates()
            block, kept = _keep_min_df_index(block, int(self.min_df))
            blocks.append(block)
            terms.extend(_key_terms(ukeys[kept], n, n_units, uniques))
        if not blocks:
            return sp.csr_matrix((len(docs), 0), dtype=np.float32), []
        return sp.csr_matrix(sp.hstack(blocks, format="csr")), terms

    def _limit(self, counts: sp.csr_matrix, terms: list[str]) -> tuple[sp.csr_matrix, list[str]]:
        """Sort the vocabulary and apply ``max_features`` exactly as scikit-learn does."""
        order = np.argsort(np.asarray(terms, dtype=object), kind="stable")
        counts = counts[:, order]
        terms = [terms[i] for i in order]
        limit = self.max_features
        if limit is not None and len(terms) > limit:
            tfs = np.asarray(counts.sum(axis=0), dtype=np.float32).ravel()
            keep = np.sort((-tfs).argsort()[:limit])
            counts = counts[:, keep]
            terms = [terms[i] for i in keep]
        counts = sp.csr_matrix(counts)
        counts.sort_indices()
        return counts, terms

    # --- transforming ----------------------------------------------------------------------------

    def transform(self, X: Any) -> sp.csr_matrix:
        """Return the TF-IDF matrix of documents ``X`` (float32 CSR, rows L2-normalised)."""
        return self._by_slices(X, lambda counts: self._tfidf(counts, summed=True))

    def count(self, X: Any) -> sp.csr_matrix:
        """Return the raw n-gram counts of documents ``X`` over the vocabulary (no duplicates)."""
        return self._by_slices(X, lambda counts: counts)

    def _by_slices(self, X: Any, finish: Any) -> sp.csr_matrix:
        check_is_fitted(self, "terms_")
        docs = _documents(X)
        count = self._counts_char if self.analyzer == "char_wb" else self._counts_word
        # Slices of about a quarter of a million characters keep the temporary arrays small
        # (tens of MB) however large the batch.
        parts = [finish(count(docs[a:b])) for a, b in text_slices(docs)]
        if len(parts) == 1:
            return parts[0]
        return sp.csr_matrix(sp.vstack(parts, format="csr"))

    def _tfidf(self, counts: sp.csr_matrix, *, summed: bool = False) -> sp.csr_matrix:
        return self._normalised(self._weighted(counts, summed=summed))

    def _weighted(self, counts: sp.csr_matrix, *, summed: bool = False) -> sp.csr_matrix:
        """TF (sublinear if asked) times IDF, before normalisation."""
        X = sp.csr_matrix(counts, dtype=np.float32)
        if not summed:
            X.sum_duplicates()
        if self.sublinear_tf:
            np.log(X.data, out=X.data)
            X.data += 1
        X.data *= self.idf_[X.indices]
        return X

    def _normalised(self, X: sp.csr_matrix, norms: np.ndarray | None = None) -> sp.csr_matrix:
        if not self.norm_floor_:
            return normalize(X, norm="l2", copy=False)
        scale = np.maximum(_row_norms(X) if norms is None else norms, self.norm_floor_).astype(np.float32)
        X.data /= np.repeat(scale, np.diff(X.indptr))
        return X

    def _counts_char(self, docs: list[str]) -> sp.csr_matrix:
        index = self._char_index()
        if index is not None and 2 <= self.ngram_range[0] <= 3:
            return self._counts_char_vectorised(docs, *index)
        return self._counts_char_by_unit(docs)

    def _counts_char_vectorised(
        self, docs: list[str], table: np.ndarray, base: int, space: int, grams: dict[int, tuple[pd.Index, np.ndarray]]
    ) -> sp.csr_matrix:
        """Count ``char_wb`` n-grams of a whole batch with array operations.

        The batch becomes one string, ``" w1 w2 "`` per document. A window of n characters is a
        ``char_wb`` n-gram of some word exactly when no space is inside it (spaces may open or
        close it) and it does not cross documents; with ``2 <= min_n <= 3`` this also covers
        scikit-learn's rule for words shorter than n. Characters are numbered by the
        vocabulary's alphabet (0: not in any n-gram), windows become integer keys, and a hash
        index finds their columns.
        """
        padded = [" " + " ".join(d.split()) + " " for d in docs]
        lengths = np.fromiter((len(t) + 1 for t in padded), dtype=np.int64, count=len(padded))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        points = np.frombuffer("\x00".join(padded).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        chars = table[np.minimum(points, len(table) - 1)].astype(np.int64)
        chars[starts[1:] - 1] = 0  # the separators: no n-gram crosses documents
        doc_of = np.repeat(np.arange(len(docs), dtype=np.int32), lengths)
        blocks = []
        for n, (keys, columns) in grams.items():
            if len(chars) < n:
                continue
            key, ok = _window_keys(chars, n, base, space)
            position = np.flatnonzero(ok)
            found = keys.get_indexer(key[position])
            hit = found >= 0
            blocks.append((doc_of[position[hit]], columns[found[hit]]))
        return _count_matrix(blocks, (len(docs), self.n_features_out_))

    def _char_index(self) -> tuple[np.ndarray, int, int, dict[int, tuple[pd.Index, np.ndarray]]] | None:
        """The vocabulary's alphabet as a code point table, and each n-gram length's integer keys."""
        if "_index" not in self.__dict__:
            # Array operations over the vocabulary string: this runs on every model load.
            points, starts, lengths = _term_layout(self.terms_)
            alphabet = np.union1d(points[points != ord(_SEP)], [ord(" ")])
            base = len(alphabet) + 1
            if float(base) ** int(lengths.max()) >= 2.0**62:
                self._index = None
                return None
            table = np.zeros(alphabet.max() + 2, dtype=np.int32)
            table[alphabet] = np.arange(1, len(alphabet) + 1)
            grams = {}
            for n in np.unique(lengths).tolist():
                columns = np.flatnonzero(lengths == n)
                codes = table[points[starts[columns, None] + np.arange(n)]].astype(np.int64)
                keys = np.zeros(len(columns), dtype=np.int64)
                for k in range(n):
                    keys = keys * base + codes[:, k]
                grams[n] = (pd.Index(keys), columns.astype(np.int64))
            self._index = (table, base, int(table[ord(" ")]), grams)
        return self._index

    def _counts_char_by_unit(self, docs: list[str]) -> sp.csr_matrix:
        doc_of, codes, uniques = _units(docs, str.split)
        vocab = self._vocabulary()
        cache: dict[str, np.ndarray] = self.__dict__.setdefault("_unit_cache", {})
        lo, hi = self.ngram_range
        rows = []
        for unit in uniques:
            grams = cache.get(unit)
            if grams is None:
                found = [vocab.get(g, -1) for g in char_wb_ngrams(unit, lo, hi)]
                grams = np.asarray([i for i in found if i >= 0], dtype=np.int32)
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[unit] = grams
            rows.append(grams)
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int32)
        unit_grams = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices, indptr), shape=(len(uniques), self.n_features_out_)
        )
        return sp.csr_matrix(_doc_unit_matrix(doc_of, codes, len(docs), len(uniques)) @ unit_grams)

    def _counts_word(self, docs: list[str]) -> sp.csr_matrix:
        # Each token is looked up once, straight from the token lists (a C-level map over the
        # dictionary): no array of token objects to build and factorise per batch.
        split = [*map(self._tokenizer(), docs)]
        lengths = np.fromiter(map(len, split), dtype=np.int64, count=len(split))
        doc_of = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        tokens, unigram_col, part_code, keys, key_feature, radix = self._word_index()
        ids = np.fromiter(
            map(tokens.get, chain.from_iterable(split), repeat(-1)), dtype=np.int64, count=int(lengths.sum())
        )
        # id -1 (a token in no vocabulary term) picks the sentinel -1 at the end of both arrays.
        pid = part_code[ids]
        blocks = []
        lo, hi = self.ngram_range
        for n in range(lo, hi + 1):
            if n == 1:
                cols, rows = unigram_col[ids], doc_of
            else:
                gram, rows = _ngram_keys(pid, doc_of, n, radix, valid=pid >= 0)
                found = keys[n].get_indexer(gram)
                cols = key_feature[n][found] if len(keys[n]) else found
                cols[found < 0] = -1
            keep = cols >= 0
            blocks.append((rows[keep], cols[keep]))
        return _count_matrix(blocks, (len(docs), self.n_features_out_))

    # --- fitted state ----------------------------------------------------------------------------

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Return the vocabulary in column order."""
        check_is_fitted(self, "terms_")
        return np.asarray(self.terms_.split(_SEP), dtype=object)

    @property
    def vocabulary_(self) -> dict[str, int]:
        """Map each n-gram to its column (built on first use)."""
        check_is_fitted(self, "terms_")
        return self._vocabulary()

    def _vocabulary(self) -> dict[str, int]:
        vocab = self.__dict__.get("_vocab")
        if vocab is None:
            terms = self.terms_.split(_SEP)
            vocab = self._vocab = dict(zip(terms, range(len(terms)), strict=True))
        return vocab

    def _tokenizer(self) -> Callable[[str], list[str]]:
        split_doc = self.__dict__.get("_compiled")
        if split_doc is None:
            findall = re.compile(self.token_pattern).findall
            split_doc = self._compiled = (
                _fast_tokens(findall) if self.token_pattern in KNOWN_TOKEN_PATTERNS else findall
            )
        return split_doc

    def _word_index(
        self,
    ) -> tuple[dict[str, int], np.ndarray, np.ndarray, dict[int, pd.Index], dict[int, np.ndarray], int]:
        """Index the vocabulary by token for :meth:`_counts_word`.

        Returns a number for each token of the vocabulary's terms, per token number its unigram
        column (-1 where it is none) and its code in n-gram keys (with a last -1 for tokens
        not in the index), each n-gram (n >= 2) keyed by its tokens' codes, and the key radix.
        Built with array operations: it runs on every model load.
        """
        index = self.__dict__.get("_index")
        if index is None:
            points, starts, _ = _term_layout(self.terms_)
            spaces = np.concatenate([[0], np.cumsum(points == ord(" "))])
            sizes = spaces[np.append(starts[1:] - 1, len(points))] - spaces[starts] + 1  # tokens per term
            codes, uniques = pd.factorize(np.asarray(self.terms_.replace(_SEP, " ").split(" "), dtype=object))
            codes = codes.astype(np.int64)
            first = np.concatenate([[0], np.cumsum(sizes)[:-1]])  # each term's first token
            tokens = dict(zip(uniques.tolist(), range(len(uniques)), strict=True))
            unigram_col = np.full(len(uniques) + 1, -1, dtype=np.int64)
            single = np.flatnonzero(sizes == 1)
            unigram_col[codes[first[single]]] = single
            part_code = np.arange(len(uniques) + 1, dtype=np.int64)
            part_code[-1] = -1
            radix = max(len(uniques), 1)
            keys = {n: pd.Index([], dtype=np.int64) for n in range(2, 4)}
            features = {n: np.zeros(0, dtype=np.int64) for n in range(2, 4)}
            for n in range(2, 4):
                columns = np.flatnonzero(sizes == n)
                if not len(columns):
                    continue
                if float(radix) ** n >= 2.0**62:
                    raise ValueError(f"too many distinct tokens ({radix}) for integer keys of {n}-grams")
                k = np.zeros(len(columns), dtype=np.int64)
                for position in range(n):
                    k = k * radix + codes[first[columns] + position]
                keys[n], features[n] = pd.Index(k), columns.astype(np.int64)
            index = self._index = (tokens, unigram_col, part_code, keys, features, radix)
        return index

    def _reset_cache(self) -> None:
        for name in _DERIVED:
            self.__dict__.pop(name, None)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in _DERIVED:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("norm_floor", 0.0)  # saved before 0.13.0: plain L2 normalisation
        state.setdefault("norm_floor_", 0.0)
        super().__setstate__(state)


def is_norm_floor(value: object, limit: float = np.inf) -> bool:
    """Whether ``value`` is a number in ``[0, limit)``: a usable norm floor (NaN, inf, None are not)."""
    return isinstance(value, (int, float, np.number)) and bool(0 <= value < limit)


def _row_norms(X: sp.csr_matrix) -> np.ndarray:
    """The L2 norm of each row of ``X``."""
    # Summed in float64: a float32 sum depends on the order of a row's entries, which differs
    # between fit_transform (sorted) and transform (unsorted), and rows must come out the same.
    X = sp.csr_matrix(X)
    data = X.data.astype(np.float64)
    sums = np.zeros(X.shape[0], dtype=np.float64)
    nonempty = np.flatnonzero(np.diff(X.indptr))
    if len(nonempty):
        sums[nonempty] = np.add.reduceat(data * data, X.indptr[nonempty])
    return np.sqrt(sums)


def _term_layout(terms: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The code points of a vocabulary string (terms joined by newlines), each term's start and length.

    >>> _term_layout("ab\\nc")[1:]
    (array([0, 3]), array([2, 1]))
    """
    points = np.frombuffer(terms.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
    cuts = np.flatnonzero(points == ord(_SEP))
    starts = np.concatenate([[0], cuts + 1])
    ends = np.append(cuts, len(points))
    return points, starts, ends - starts


def text_slices(docs: list[str], budget: int = 1 << 18) -> list[tuple[int, int]]:
    """Split ``docs`` into consecutive ``(start, stop)`` slices of about ``budget`` characters.

    >>> text_slices(["ab", "cd", "ef"], budget=4)
    [(0, 2), (2, 3)]
    >>> text_slices([])
    [(0, 0)]
    """
    out = []
    start = total = 0
    for i, doc in enumerate(docs):
        total += len(doc) + 1
        if total >= budget:
            out.append((start, i + 1))
            start, total = i + 1, 0
    if start < len(docs) or not out:
        out.append((start, len(docs)))
    return out


def _window_keys(chars: np.ndarray, n: int, base: int, space: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Integer key of every window of ``n`` character codes, and whether it is an n-gram.

    Code 0 separates texts: a window holding it is no n-gram. With ``space``, neither is a window
    with that code strictly inside it (``char_wb`` n-grams may only open or close with a space).
    """
    m = len(chars) - n + 1
    key = chars[:m].copy()
    ok = key > 0
    for k in range(1, n):
        window = chars[k : k + m]
        key = key * base + window
        ok &= window > 0
        if space is not None and k < n - 1:
            ok &= window != space
    return key, ok


def _unit_grams_by_unit(uniques: np.ndarray, lo: int, hi: int) -> tuple[sp.csr_matrix, list[str]]:
    """Each unit's ``char_wb`` n-grams (a units x n-grams count matrix) and the n-grams found."""
    gram_id: dict[str, int] = {}
    indptr = [0]
    indices: list[int] = []
    for unit in uniques:
        grams = char_wb_ngrams(unit, lo, hi)
        indices.extend(gram_id.setdefault(g, len(gram_id)) for g in grams)
        indptr.append(len(indices))
    unit_grams = sp.csr_matrix(
        (np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
        shape=(len(uniques), len(gram_id)),
    )
    return unit_grams, list(gram_id)


def _unit_grams_vectorised(uniques: np.ndarray, lo: int, hi: int) -> tuple[sp.csr_matrix, list[str]] | None:
    """:func:`_unit_grams_by_unit` with array operations (``2 <= lo <= 3``); ``None`` if keys overflow.

    The units, each padded with a space on both sides, become one code-point array with a
    separator after each. Every window of n characters that holds no separator is a ``char_wb``
    n-gram of its unit; because a padded unit is at least three characters long, this also
    gives scikit-learn's "a short word counts once, whole" rule for ``lo`` of 2 or 3. Windows
    are numbered over the batch's alphabet, so distinct n-grams are distinct integers.
    """
    if not len(uniques):
        return None
    lengths = np.fromiter((len(u) + 3 for u in uniques), dtype=np.int64, count=len(uniques))
    text = "".join(f" {u} \x00" for u in uniques)
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    present = np.zeros(0x110000, dtype=np.int64)
    present[points] = 1
    alphabet = np.flatnonzero(present)
    base = len(alphabet) + 1
    if float(base) ** hi >= 2.0**62:
        return None
    chars = np.cumsum(present)[points]  # each character's rank in the alphabet, from 1
    chars[np.cumsum(lengths) - 1] = 0  # the separators (a "\x00" inside a unit keeps its code)
    unit_of = np.repeat(np.arange(len(uniques), dtype=np.int64), lengths)
    rows, cols, terms = [], [], []
    for n in range(lo, hi + 1):
        if len(chars) < n:
            continue
        key, ok = _window_keys(chars, n, base)  # units hold no space: no inner-space test
        column, distinct = pd.factorize(key[ok])  # hashing, not sorting: the order is set later
        rows.append(unit_of[: len(key)][ok])
        cols.append(column.astype(np.int64) + len(terms))
        digits = np.empty((len(distinct), n), dtype=np.int64)
        rest = distinct.copy()
        for k in range(n - 1, -1, -1):
            digits[:, k] = rest % base
            rest //= base
        flat = alphabet[digits - 1].astype(np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
        terms.extend(flat[i : i + n] for i in range(0, len(flat), n))
    if not terms:
        return None
    row, col = np.concatenate(rows), np.concatenate(cols)
    unit_grams = sp.csr_matrix(
        (np.ones(len(row), dtype=np.float32), (row, col)), shape=(len(uniques), len(terms)), dtype=np.float32
    )
    return unit_grams, terms


def _fast_tokens(findall: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """``findall`` of :data:`TOKEN_PATTERN`, by ``str.split`` where that gives the same tokens.

    That is ASCII text of letters, whitespace and lone ``0`` digits, what normalised text with
    masked digits is (``scamclf.features``): a "0" between letters is a token of its own, hence
    the spaces put round it. And text of CJK characters, lone ``0`` digits and whitespace, where
    each character but whitespace is a token. Scoring so skips the regex for most calls.
    Anything else (other digits, "00", punctuation, Latin mixed with CJK) goes to ``findall``
    (hypothesis-tested against it).
    """

    def tokens(doc: str) -> list[str]:
        if doc.isascii():
            if not doc.encode("ascii").translate(None, _SIMPLE_ASCII) and "00" not in doc:
                return doc.replace("0", " 0 ").split() if "0" in doc else doc.split()
        elif not _NOT_CJK_SIMPLE.search(doc):
            return list("".join(doc.split()))
        return findall(doc)

    return tokens


def _documents(X: Any) -> list[str]:
    if isinstance(X, str):
        raise ValueError("Iterable over raw text documents expected, string object received.")
    return [d if isinstance(d, str) else str(d) for d in X]


def _units(docs: list[str], split_doc: Callable[[str], list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split documents into units; return each unit's document and code, and the distinct units."""
    split = [split_doc(d) for d in docs]
    lengths = np.fromiter((len(s) for s in split), dtype=np.int64, count=len(split))
    units = list(chain.from_iterable(split))
    doc_of = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
    if not units:
        return doc_of, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    codes, uniques = pd.factorize(np.asarray(units, dtype=object))
    return doc_of, codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _count_matrix(blocks: list[tuple[np.ndarray, np.ndarray]], shape: tuple[int, int]) -> sp.csr_matrix:
    """Count (row, column) occurrences into a CSR matrix with no duplicate entries.

    Rows ascend within each block, so each block becomes CSR directly (no sort); adding the
    blocks, or multiplying a lone block by the identity, sums duplicates with a per-row
    accumulator. Column indices may stay unsorted, which nothing downstream needs.
    """
    total: sp.csr_matrix | None = None
    for rows, cols in blocks:
        indptr = np.zeros(shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
        block = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr), shape=shape)
        total = block if total is None else total + block
    if total is None:
        return sp.csr_matrix(shape, dtype=np.float32)
    if len(blocks) == 1:
        total = total @ sp.identity(shape[1], dtype=np.float32, format="csr")
    return sp.csr_matrix(total)


def _doc_unit_matrix(doc_of: np.ndarray, codes: np.ndarray, n_docs: int, n_units: int) -> sp.csr_matrix:
    matrix = sp.csr_matrix((np.ones(len(codes), dtype=np.float32), (doc_of, codes)), shape=(n_docs, n_units))
    matrix.sum_duplicates()
    return matrix


def _ngram_keys(
    codes: np.ndarray, doc_of: np.ndarray, n: int, radix: int, valid: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Integer keys of the n-grams of consecutive units that stay inside one document."""
    if float(radix) ** n >= 2.0**62:
        raise ValueError(f"too many distinct tokens ({radix}) for integer keys of {n}-grams")
    m = len(codes) - n + 1
    if m <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    keys = codes[:m].astype(np.int64)
    ok = doc_of[:m] == doc_of[n - 1 : n - 1 + m]
    if valid is not None:
        ok &= valid[:m]
    for k in range(1, n):
        keys = keys * radix + codes[k : k + m]
        if valid is not None:
            ok &= valid[k : k + m]
    return keys[ok], doc_of[:m][ok]


def _key_terms(keys: np.ndarray, n: int, radix: int, uniques: np.ndarray) -> list[str]:
    parts = []
    rest = keys.copy()
    for _ in range(n):
        parts.append(uniques[rest % radix])
        rest //= radix
    parts.reverse()
    return [" ".join(p) for p in zip(*parts, strict=True)]


def _keep_min_df_index(counts: sp.csr_matrix, min_df: int) -> tuple[sp.csr_matrix, np.ndarray]:
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    kept = np.flatnonzero(df >= min_df)
    return sp.csr_matrix(counts[:, kept]), kept


def _keep_min_df(counts: sp.csr_matrix, terms: list[str], min_df: int) -> tuple[sp.csr_matrix, list[str]]:
    counts, kept = _keep_min_df_index(counts, min_df)
    return counts, [terms[i] for i in kept]
