"""Constants shared by every module: labels, scam types, default paths and environment names."""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = [
    "DEFAULT_PROJECT_MODEL_PATH",
    "FIT_TOL",
    "INVISIBLE",
    "LABEL_LEGIT",
    "LABEL_SCAM",
    "LEGIT_LABEL_VALUES",
    "MODEL_ENV_VAR",
    "OUTPUT_COLUMNS",
    "SCAM_LABEL_VALUES",
    "SCAM_TYPES",
    "THRESHOLD_SMOOTHING",
    "TURN_COLUMNS",
    "UNFAMILIAR_NOTE_START",
    "VERDICTS",
    "drop_invisible",
    "is_blank",
    "normalise_label",
    "user_model_path",
]

#: Invisible characters: Unicode's Default_Ignorable_Code_Point set (15.1), written out so that
# the deletion is the same on every Python: zero-width spaces and joiners, the soft hyphen,
# direction marks, the byte-order mark, variation selectors, the grapheme joiner, Hangul fillers,
# tags. They are deleted, not blanked: inside a word they cut it apart where a reader sees one
# word ("o\u200bt\u200bp" read as "o t p" and lost the OTP cue, "pass\u200dword" as "pass word"),
# and Persian and Indic words are spelt with joiners. (Thai and Khmer words that a zero-width
# space separates run together, as they are written without one.)
_INVISIBLE_IN_BMP = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
)
INVISIBLE = re.compile(f"[{_INVISIBLE_IN_BMP}\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")
# Those in the Basic Multilingual Plane only: five times faster to search for (a class with
# astral ranges is slow), and a text without astral characters needs no more.
_INVISIBLE_BMP = re.compile(f"[{_INVISIBLE_IN_BMP}]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def drop_invisible(text: str) -> str:
    """Return ``text`` without its invisible format characters (:data:`INVISIBLE`).

    >>> drop_invisible("o\\u200bt\\u200bp")
    'otp'
    """
    if text.isascii():
        return text
    if _INVISIBLE_BMP.search(text) or (_ASTRAL.search(text) and INVISIBLE.search(text)):
        return INVISIBLE.sub("", text)
    return text


def is_blank(text: str) -> bool:
    """Whether ``text`` shows nothing: whitespace and invisible format characters only.

    >>> is_blank(" \\u200b\\n"), is_blank("ok")
    (True, False)
    """
    return not text.strip() or (not text.isascii() and not drop_invisible(text).strip())


LABEL_SCAM = "scam"
LABEL_LEGIT = "legit"

# Case-insensitive spellings of the two labels found in public corpora.
SCAM_LABEL_VALUES = frozenset({"scam", "1", "true", "fraud", "spam", "yes", "phishing", "smishing", "malicious"})
LEGIT_LABEL_VALUES = frozenset({"legit", "0", "false", "normal", "ham", "no", "legitimate", "benign", "genuine"})

SCAM_TYPES = (
    "bank_impersonation",
    "government_impersonation",
    "courier_parcel",
    "telecom_utility",
    "tech_support_refund",
    "prize_lottery",
    "loan_debt",
    "investment",
    "kidnapping_family_emergency",
    "job_offer",
    "other",
)

VERDICTS = ("scam", "suspicious", "legit")

# Columns that scoring adds to a table; an input that already has one is refused unless told.
OUTPUT_COLUMNS = ("scam_probability", "is_scam", "verdict", "scam_type", "evidence", "note")
#: Added by ``score --by-turn`` (``turn`` in long format, ``trajectory`` on request).
TURN_COLUMNS = ("turn", "alarm_turn", "max_probability", "trajectory")
#: How the ``note`` of a row written largely in a script the model never saw begins
#: (``scamclf.api.unfamiliar_note``); batch summaries count the rows whose note holds it.
UNFAMILIAR_NOTE_START = "unfamiliar writing: "

#: Half-width of the moving average taken over the held-out cost curve before its minimum is
#: chosen (0: the raw minimum). Scored on held-out sources, the cost is nearly flat over a wide
#: range of thresholds (on the bundled corpus within one point of error from 0.48 to 0.66) and
#: bumpy within it, so the raw minimum jumps by 0.1 when 3% of the rows change; the smoothed
#: one picks the middle of the flat stretch and moves about a third less, at the same cost
#: (benchmarks/README.md, 0.10.0).
THRESHOLD_SMOOTHING = 0.08

#: Default stopping tolerance of every linear fit (``ScamClassifier(tol=...)``, ``scamclf train
#: --tol``); why 1e-6 and not scikit-learn's 1e-4: the comment above ``FIT_MAX_ITER`` in ``model.py``.
FIT_TOL = 1e-6

MODEL_ENV_VAR = "SCAMCLF_MODEL"
DEFAULT_PROJECT_MODEL_PATH = Path("models") / "scamclf.joblib"


def user_model_path() -> Path:
    """Return the per-user default model path (``$XDG_DATA_HOME/scamclf/scamclf.joblib``)."""
    base = os.environ.get("XDG_DATA_HOME")
    if base:
        root = Path(base)
    elif os.name == "nt":
        root = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        root = Path.home() / ".local" / "share"
    return root / "scamclf" / "scamclf.joblib"


def normalise_label(value: object) -> str | None:
    """Map a raw label to ``"scam"`` / ``"legit"``, or ``None`` when it is not recognised.

    >>> normalise_label("Spam"), normalise_label(0), normalise_label(True)
    ('scam', 'legit', 'scam')
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return LABEL_SCAM if value else LABEL_LEGIT
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if value.is_integer():
            value = int(value)
    text = str(value).strip().lower()
    if text in SCAM_LABEL_VALUES:
        return LABEL_SCAM
    if text in LEGIT_LABEL_VALUES:
        return LABEL_LEGIT
    return None
