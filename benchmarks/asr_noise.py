"""Speech-to-text noise: how much held-out scores drop when transcripts get noisier than training.

Real transcripts reach users from many recognisers: no turn breaks (no diarisation), dropped and
misheard words, numbers spelled out, fillers. The training corpora have some of this; this script
measures what more of it costs. Models are trained as in ``cross_source.py`` (held-out groups:
the five Macau script-family folds and ``robocall_ftc``), then score each held-out row clean and
under each kind of noise (seeded, so every run sees the same noisy text). Reported, for scamclf
and the plain TF-IDF + logistic regression baseline side by side: Macau PR-AUC (scam against
everything else), Macau scam recall and genuine look-alike false-positive rate at the model's own
threshold, robocall recall; and each as a ratio to the clean text in the same run.

    python benchmarks/asr_noise.py [--shared ../shared/data] [--jobs 2]
"""

from __future__ import annotations

import argparse
import platform
import random
import re
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import cross_source  # noqa: E402

HELD_OUT = ("macau_fold1", "macau_fold2", "macau_fold3", "macau_fold4", "macau_fold5", "robocall_ftc")
CJK = re.compile(r"[\u3400-\u9fff]")
LATIN_FILLERS = ("uh", "um", "ah", "erm", "hmm", "lah", "ok")
CJK_FILLERS = ("嗯", "那个", "就是", "啊")
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
DIGIT_HANZI = "零一二三四五六七八九"


def _tokens(line: str) -> list[str]:
    """Words, CJK characters (one token each: how a recogniser's errors fall on them) and the
    whitespace between them, so joining the tokens gives the line back."""
    return re.findall(r"\s+|[\u3400-\u9fff]|[^\s\u3400-\u9fff]+", line)


def _misspell(word: str, rng: random.Random) -> str:
    if len(word) < 3 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:  # a letter dropped
        return word[:i] + word[i + 1 :]
    if kind == 1:  # a letter doubled
        return word[:i] + word[i] + word[i:]
    return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]  # two letters swapped


def one_blob(text: str, rng: random.Random) -> str:
    """No diarisation: the whole call as one line."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def word_errors(text: str, rng: random.Random, rate: float = 0.10) -> str:
    """About ``rate`` of the words dropped, misspelt or run into the next word; CJK characters
    dropped or replaced by another character of the same call (a crude stand-in for homophones)."""
    lines = []
    for line in text.splitlines():
        toks = _tokens(line)
        pool = [t for t in toks if CJK.match(t)]
        out: list[str] = []
        for i, tok in enumerate(toks):
            if tok.isspace():
                out.append(tok)
                continue
            r = rng.random()
            if r < rate * 0.4:
                continue
            if r < rate * 0.8:
                tok = rng.choice(pool) if CJK.match(tok) else _misspell(tok, rng)
            elif r < rate and i + 2 < len(toks) and toks[i + 1].isspace() and not CJK.match(tok):
                toks[i + 1] = ""  # run into the next word
            out.append(tok)
        lines.append(re.sub(r" {2,}", " ", "".join(out)).strip())
    return "\n".join(lines)


def spoken_numbers(text: str, rng: random.Random) -> str:
    """Digits as a recogniser may write them: one word (or hanzi) per digit."""

    def spell(match: re.Match[str]) -> str:
        digits = match.group()
        before = text[max(0, match.start() - 3) : match.start()].strip()[-1:]
        after = text[match.end() : match.end() + 3].strip()[:1]
        if CJK.search(before + after):
            return "".join(DIGIT_HANZI[int(d)] for d in digits)
        return " ".join(DIGIT_WORDS[int(d)] for d in digits)

    return re.sub(r"\d+", spell, text)


def fillers(text: str, rng: random.Random, rate: float = 0.08) -> str:
    """Fillers inserted before about ``rate`` of the words."""
    lines = []
    for line in text.splitlines():
        out = []
        for tok in _tokens(line):
            if not tok.isspace() and rng.random() < rate:
                out.append(rng.choice(CJK_FILLERS) if CJK.match(tok) else rng.choice(LATIN_FILLERS) + " ")
            out.append(tok)
        lines.append("".join(out))
    return "\n".join(lines)


def everything(text: str, rng: random.Random) -> str:
    return one_blob(fillers(spoken_numbers(word_errors(text, rng), rng), rng), rng)


NOISES: dict[str, Callable[[str, random.Random], str]] = {
    "clean": lambda text, rng: text,
    "one line (no turns)": one_blob,
    "10% word errors": word_errors,
    "digits spoken": spoken_numbers,
    "8% fillers": fillers,
    "all four": everything,
}


def noisy(texts: list[str], noise: str, seed: int = 0) -> list[str]:
    return [NOISES[noise](text, random.Random(f"{seed}:{i}")) for i, text in enumerate(texts)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    started = time.time()
    data = cross_source.load_all(args.shared)
    results: dict[tuple[str, str], list[pd.DataFrame]] = {}
    for group in HELD_OUT:
        train, test = data[data["group"] != group], data[data["group"] == group]
        variants = {noise: noisy(test["text"].tolist(), noise) for noise in NOISES}
        for system in ("baseline", "scamclf"):
            t0 = time.time()
            model, threshold = fit(system, train, args.jobs)
            for noise, texts in variants.items():
                frame = test[["source", "category", "label"]].copy()
                frame["proba"], frame["threshold"] = model(texts), threshold
                results.setdefault((system, noise), []).append(frame)
            print(f"# {group} {system}: {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    print(
        f"Speech-to-text noise benchmark, {date.today()}, {platform.node()} ({platform.machine()}), "
        f"Python {platform.python_version()}; {time.time() - started:.0f}s\n"
    )
    print("| system | noise | Macau PR-AUC | Macau scam recall | Macau look-alike FPR | robocall recall |")
    print("| --- | --- | --- | --- | --- | --- |")
    for system in ("baseline", "scamclf"):
        clean = None
        for noise in NOISES:
            frame = pd.concat(results[(system, noise)])
            row = _metrics(frame)
            clean = clean or row
            cells = [
                f"{v:.3f}" + ("" if noise == "clean" else f" ({v / c:.2f}x)" if c else "")
                for v, c in zip(row, clean, strict=True)
            ]
            print(f"| {system} | {noise} | " + " | ".join(cells) + " |")
    return 0


def _metrics(frame: pd.DataFrame) -> tuple[float, float, float, float]:
    macau = frame[frame["source"].str.startswith("macau_")]
    flagged = macau["proba"] >= macau["threshold"]
    scam = macau["category"] == "scam"
    robo = frame[frame["source"] == "robocall_ftc"]
    return (
        float(average_precision_score(scam, macau["proba"])),
        float(flagged[scam].mean()),
        float(flagged[macau["category"] == "lookalike"].mean()),
        float((robo["proba"] >= robo["threshold"]).mean()),
    )


def fit(system: str, train: pd.DataFrame, jobs: int) -> tuple[Callable[[list[str]], np.ndarray], float]:
    """A scoring function for ``system`` trained on ``train`` as ``cross_source.py`` trains it,
    and the threshold it decides at."""
    if system == "baseline":
        return cross_source.baseline_scorer(train), 0.5
    clf = cross_source.scamclf_fit(train, jobs)
    return (lambda texts: clf.predict_proba(texts)[:, 1]), float(clf.threshold_)


if __name__ == "__main__":
    raise SystemExit(main())
