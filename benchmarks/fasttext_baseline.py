"""fastText as the benchmarks run it: the two configurations of issue 6, trained and used in batch.

fastText reads one example per line, so newlines inside a transcript become spaces (the same
cleaning for training and prediction). fasttext-wheel's ``predict`` fails under numpy 2, its
batch ``f.multilinePredict`` works: that is what is timed. Install with
``pip install -e .[bench]``.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable

import numpy as np

CONFIGS = {
    "fasttext_default": {},
    "fasttext_accurate": {"wordNgrams": 2, "minn": 2, "maxn": 5, "dim": 50, "epoch": 25},
}
_SPACE = re.compile(r"\s+")


def available() -> bool:
    try:
        import fasttext  # noqa: F401
    except ImportError:
        return False
    return True


def one_line(text: str) -> str:
    return _SPACE.sub(" ", str(text)).strip()


def train(texts: Iterable[str], is_scam: Iterable[bool], config: str, threads: int = 2):
    """Train fastText on ``texts`` with labels ``__label__scam`` / ``__label__legit``."""
    import fasttext

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as fh:
        for text, scam in zip(texts, is_scam, strict=True):
            fh.write(f"__label__{'scam' if scam else 'legit'} {one_line(text)}\n")
        path = fh.name
    try:
        return fasttext.train_supervised(path, verbose=0, thread=threads, seed=0, **CONFIGS[config])
    finally:
        os.unlink(path)


def scam_proba(model, texts: list[str]) -> np.ndarray:
    """Probability of ``__label__scam`` for each (already one-line) text, by batch prediction.

    Only the top label is asked for: under numpy 2, ``multilinePredict`` with k=2 returns the
    top probability for both labels. With two labels, P(scam) is p or 1 - p.
    """
    labels, probs = model.f.multilinePredict(texts, 1, 0.0, "strict")
    top = np.array([float(p[0]) if len(p) else 0.5 for p in probs])
    is_scam = np.array([bool(lab) and lab[0] == "__label__scam" for lab in labels])
    return np.where(is_scam, top, 1.0 - top)
