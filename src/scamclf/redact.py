"""Masking personal data (phone, ID, card and account numbers, e-mail addresses) in output text."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .config import INVISIBLE, drop_invisible

__all__ = ["find_personal_data", "redact", "redact_evidence", "redact_frame"]

# `\d` is any Unicode digit, so full-width and Arabic-Indic digits are caught by the last
# alternative (any long digit run) even where a specific shape spells out ASCII prefixes.
_SEP = r"[ .\-]?"
_MMDD = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
_ISO_DATE = r"(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?!\d)"
_NO_ALNUM_BEFORE = r"(?<![A-Za-z0-9])"  # not \b: "身份证S1234567D" has no word boundary
_NO_ALNUM_AFTER = r"(?![A-Za-z0-9])"

# ASCII addresses: in "邮箱lim@bank.my" the Chinese characters are not part of the address.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._+\-])[A-Za-z0-9._+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){1,8}")

# Tried left to right at each position: specific shapes first, so that a number is named for
# what it most likely is, then any run of digit groups.
_NUMBER_SHAPES: dict[str, str] = {
    # Malaysian IC 900101-14-5678 (YYMMDD-PB-###G; also with spaces or run together).
    "ID_MY": rf"(?<!\d)\d\d{_MMDD}(?P<my_sep>[ \-]?)\d\d(?P=my_sep)\d{{4}}(?!\d)",
    # Singapore NRIC/FIN S1234567D; Taiwan ID A123456789 (and resident certificates A8/A9).
    "ID_SG": rf"{_NO_ALNUM_BEFORE}[STFGM]\d{{7}}[A-Z]{_NO_ALNUM_AFTER}",
    "ID_TW": rf"{_NO_ALNUM_BEFORE}[A-Z][1289]\d{{8}}{_NO_ALNUM_AFTER}",
    # Chinese resident ID: region, YYYYMMDD, sequence, check digit or X.
    "ID_CN": rf"(?<!\d)\d{{6}}(?:18|19|20)\d\d{_MMDD}\d{{3}}[\dX]{_NO_ALNUM_AFTER}",
    # International: + and 7 to 15 digits with spaces, dots, dashes or brackets (+60 12-345 6789).
    "PHONE_INTL": r"(?<![+\d])\+\d(?:[ .\-()]{0,2}\d){6,14}(?!\d)",
    # Malaysia 012-345 6789, 011-1234 5678, (03) 1234 5678; Taiwan 0912-345-678;
    # China 138 1234 5678; Singapore 9123 4567 (8 digits starting 3, 6, 8 or 9).
    "PHONE_MY": rf"(?<!\d)\(?0\d{{1,2}}\)?{_SEP}\d{{3,4}}{_SEP}\d{{4}}(?!\d)",
    "PHONE_TW": rf"(?<!\d)09\d\d{_SEP}\d{{3}}{_SEP}\d{{3}}(?!\d)",
    "PHONE_CN": rf"(?<!\d)1[3-9]\d{_SEP}\d{{4}}{_SEP}\d{{4}}(?!\d)",
    "PHONE_SG": rf"(?<!\d)[3689]\d{{3}}{_SEP}\d{{4}}(?!\d)",
    # Digit groups joined by single spaces or dashes (an ISO date excepted); only runs of 8 or
    # more digits are personal data: a card (13-19 digits passing the Luhn check) or an account.
    # Written as runs rather than one digit at a time so that the regex engine stays fast.
    "NUMBER": rf"(?<!\d)(?!{_ISO_DATE})\d+(?:[ \-]\d+)*",
}
_NUMBERS = re.compile(
    "|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _NUMBER_SHAPES.items()), flags=re.IGNORECASE
)
_MIN_NUMBER_DIGITS = 8

_DIGIT_RUNS = re.compile(r"\d+")
_AT_SIGNS = re.compile(r"@+")
_REPEATED_MASK = re.compile(r"(\[[A-Z]+\])(?:\s+\1)+")  # "012 345" -> "[PHONE]", not "[PHONE] [PHONE]"
# How far a match reaches beyond its digits or its @ (an e-mail's local part and its domain of
# up to 9 labels; a bracket, a + or an ID letter around a number). The regexes run only in
# windows this wide around digits and @, so a 10 MB transcript with a few numbers is quick.
_EMAIL_REACH = (65, 64 * 9)
_NUMBER_REACH = (3, 3)


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _kind(match: re.Match[str]) -> str | None:
    """The mask for a match of :data:`_NUMBERS`, or None for a digit run too short to matter."""
    kind = next(k for k in _NUMBER_SHAPES if match.group(k) is not None)
    if kind != "NUMBER":
        return kind.split("_")[0]
    digits = "".join(c for c in match.group() if c.isdecimal())
    if len(digits) < _MIN_NUMBER_DIGITS:
        return None
    return "CARD" if 13 <= len(digits) <= 19 and _luhn(digits) else "ACCOUNT"


def _windows(text: str, anchors: re.Pattern[str], reach: tuple[int, int]) -> list[tuple[int, int]]:
    """Merged spans of ``text`` around every anchor run, ``reach`` characters before and after."""
    spans: list[tuple[int, int]] = []
    for run in anchors.finditer(text):
        start, end = max(run.start() - reach[0], 0), min(run.end() + reach[1], len(text))
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans


def _matches(text: str) -> Iterable[tuple[str, int, int]]:
    """Yield ``(kind, start, end)`` of the personal data in ``text``, e-mails first."""
    for start, end in _windows(text, _AT_SIGNS, _EMAIL_REACH):
        for match in _EMAIL.finditer(text, start, end):
            yield "EMAIL", match.start(), match.end()
    for start, end in _windows(text, _DIGIT_RUNS, _NUMBER_REACH):
        for match in _NUMBERS.finditer(text, start, end):
            kind = _kind(match)
            if kind:
                yield kind, match.start(), match.end()


def find_personal_data(text: str) -> list[tuple[str, int, int]]:
    """Return ``(kind, start, end)`` for each phone, ID, card or account number and e-mail address.

    Kinds are ``PHONE``, ``ID``, ``CARD``, ``ACCOUNT`` and ``EMAIL``; spans may overlap where an
    e-mail address holds digits.

    Invisible characters (a zero-width space, a soft hyphen) cannot hide a number: a text holding
    them is read twice, once with each of them as a space (one may stand between an ID and the
    word before it) and once without them (one may sit inside a number), and both readings count.

    >>> find_personal_data("call 012-345 6789 now")
    [('PHONE', 5, 17)]
    """
    if drop_invisible(text) is text:
        return sorted(_matches(text), key=lambda m: (m[1], -m[2]))
    spaced = INVISIBLE.sub(" ", text)  # one code point for one: the spans are the text's
    found = list(_matches(spaced))
    visible = np.ones(len(text), dtype=bool)
    for match in INVISIBLE.finditer(text):
        visible[match.start()] = False
    kept = np.flatnonzero(visible)  # where each character of the joined reading stands in ``text``
    found += [(kind, int(kept[start]), int(kept[end - 1]) + 1) for kind, start, end in _matches(drop_invisible(text))]
    # The same span read as two kinds: the specific shape, not the plain digit run, names it.
    return sorted(set(found), key=lambda m: (m[1], -m[2], m[0] == "ACCOUNT", m[0]))


def _mask_once(text: str) -> str:
    pieces: list[str] = []
    pos = 0
    for kind, start, end in find_personal_data(text):
        if start >= pos:
            pieces += [text[pos:start], f"[{kind}]"]
            pos = end
        elif end > pos:  # overlaps the last mask and reaches beyond it: the mask covers both
            pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def redact(text: str) -> str:
    """Return ``text`` with phone, ID, card and account numbers and e-mail addresses masked.

    Masks read ``[PHONE]``, ``[ID]``, ``[CARD]``, ``[ACCOUNT]`` and ``[EMAIL]``. Short numbers
    (amounts, times, "press 1") and ISO dates are kept; numbers spoken as words ("zero one
    two") are not recognised. A number or address with invisible characters inside (zero-width
    spaces and joiners, soft hyphens, direction marks) is masked whole; the rest of the text keeps
    them (a Persian word's joiner stays).

    Examples
    --------
    >>> redact("call 012-345 6789 or mail lim@bank.com.my, IC 900101-14-5678")
    'call [PHONE] or mail [EMAIL], IC [ID]'
    >>> redact("transfer rm 2,400 to account 5123 4567 8901")
    'transfer rm 2,400 to account [ACCOUNT]'
    """
    # A mask holds no digit and no @, so every pass that changes the text removes some and the
    # loop ends; a second pass catches a shape that only shows once its neighbour is masked.
    while True:
        masked = _mask_once(text)
        if masked == text:
            return masked
        text = masked


def redact_evidence(phrases: Iterable[str], text: str) -> list[str]:
    """Mask evidence phrases of ``text``, including digit fragments of personal data in ``text``.

    Evidence comes from the normalised transcript, where "012-345 6789" reads "012 345 6789"
    and a phrase may hold only "012"; such a fragment is masked as what it belongs to.

    >>> redact_evidence(["call 012", "012 345", "safe account"], "please call 012-345 6789 now")
    ['call [PHONE]', '[PHONE]', 'safe account']
    """
    runs: dict[str, str] = {}
    for kind, start, end in find_personal_data(text):
        # As the evidence reads it: normalised without invisible characters.
        for run in _DIGIT_RUNS.findall(unicodedata.normalize("NFKC", drop_invisible(text[start:end]))):
            runs.setdefault(run, f"[{kind}]")

    def mask_run(match: re.Match[str]) -> str:
        return runs.get(match.group(), match.group())

    return [_REPEATED_MASK.sub(r"\1", _DIGIT_RUNS.sub(mask_run, redact(phrase))) for phrase in phrases]


def redact_frame(frame: pd.DataFrame, columns: Iterable[Any]) -> pd.DataFrame:
    """Return a copy of ``frame`` with :func:`redact` applied to the text cells of ``columns``.

    Values stored as numbers (not text) are written as they are.
    """
    out = frame.copy()
    for column in columns:
        values = out[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            out[column] = values.map(lambda v: redact(v) if isinstance(v, str) else v, na_action="ignore")
    return out
