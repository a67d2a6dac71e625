"""Saving and loading models with a verified header: hash, versions, and an allow-listed unpickler.

File layout (one file, conventionally ``*.joblib``)::

    b"SCAMCLF\\n"            magic line
    b"<header JSON>\\n"       format version, versions, hashes, metadata (one line, UTF-8)
    <pickle payload>         pickle protocol 5, hashed with SHA-256 in the header

Model files are code: a pickle can run anything when loaded. Loading therefore (1) checks the
magic, the format version and the SHA-256 of the payload, (2) audits the pickle's opcodes for
globals outside an allow-list *without* executing it, and (3) unpickles with an unpickler that
refuses any global outside that allow-list. A crafted pickle is refused even with a valid hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import pickletools
import platform
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from ._version import __version__
from .dataset import atomic_write_bytes
from .errors import ModelError, ModelIntegrityError

__all__ = [
    "FORMAT_VERSION",
    "VersionMismatchWarning",
    "load_model",
    "read_header",
    "save_model",
    "verify_model",
]

MAGIC = b"SCAMCLF\n"
FORMAT_VERSION = 2  # 2: scamclf.ngrams.NgramTfidf replaced sklearn TfidfVectorizer (0.3.0)
# Models written by this scamclf version or later (and not newer than this one) give the same
# scores here: loading them does not warn. Raise it whenever scoring changes.
# 0.5.0: timestamps removed by normalise_text; 0.5.1: faster; 0.6.0: new models carry lexicon v2
# (warned demands), older models score as before; 0.7.0: new models are fitted with cue weights
# kept to their polarity (cue_signs), scoring is unchanged; 0.8.0: a faster fit (one bounded
# solve, six held-out folds), scoring is unchanged; 0.9.0: new models carry lexicon v3 (more
# warning openers, retold demands), older models score as before; 0.10.0: thresholds chosen on
# the smoothed held-out cost curve, scoring is unchanged; 0.11.0: new models carry lexicon v4 and
# tidy speech in their n-gram text (ScamFeatures.speech), older models score as before. 0.12.0: new
# models carry lexicon v5, older models score as before; tidy_speech treats the rare turn separators
# (\x1c, \x85, \u2028) as newlines, a fix that changes 0.11.0 models' scores only on text holding them. 0.13.0: new
# models floor the n-gram row norm (ScamFeatures.norm_floor), older models score as before. 0.18.0:
# thresholds chosen on three assignments of sources to folds (threshold_repeats), scoring is unchanged.
# 0.19.0: new models carry lexicon v7 (Indonesian SMS scripts, Cantonese secrecy), older models score as before.
# 0.20.0: the bundled corpus holds Macau batches 8 and 9; the code and every model's scores are unchanged.
# 0.21.0: the bundled corpus holds Macau batches 10 and 11; the code and every model's scores are unchanged.
# 0.22.0: the bundled corpus holds Macau batches 12 and 13; scoring and every model's scores are unchanged.
# 0.23.0: the bundled corpus holds Macau batch 14; scoring and every model's scores are unchanged.
# 0.24.0: new models train with scam and legit balanced within each language and domain; scoring and
# every saved model's scores are unchanged.
# 0.25.0: the domain balance moved into source_weights (weights equal up to rounding; the bundled corpus is
# unchanged); scoring and every saved model's scores are unchanged.
# 0.26.0: new models fit to tolerance 1e-6 in double precision (ScamClassifier.tol); older models load
# with tol=1e-4, what they were fitted with, and score as before.
# 0.27.0: the bundled corpus holds Macau batch 16; `train --tol`; scoring and every saved model's scores are
# unchanged.
# 0.28.0: the bundled corpus holds Macau batch 17 (an edit pass on 1,017 rows); scoring and every saved
# model's scores are unchanged.
# 0.29.0: the bundled corpus holds Macau batch 18 (160 calls the customer places); scoring and every saved
# model's scores are unchanged.
# 0.30.0: combining marks stay in the normalised text and word tokens, so a saved model scores text
# holding them (Tamil, Hindi, Thai) a little differently; every other text scores as before, and
# models saved before still load (their token pattern is allowed). Unfamiliar scripts are noted.
# 0.31.0: invisible format characters (zero-width spaces and joiners, soft hyphens, direction marks)
# are deleted before normalisation instead of blanked, so a saved model scores text holding them
# differently (a word they cut apart is whole again), as do transcripts with the speaker labels of more
# recognisers ("spk_0:", "[SPEAKER_01]", "<v Speaker 1>"), now removed; every other text scores as before.
# New models carry lexicon v8 ("right now" no longer an urgency cue); older models keep their lexicon and
# score as before. New models may be trained with per-source intercepts (`train --source-offset`, off by default).
# 0.32.0: the bundled corpus holds Macau batch 19 (80 long calls); scoring and every saved model's scores
# are unchanged but for subtitle files with Windows line endings: an SRT cue number followed by "\r\n" was
# kept as a spoken number, and is now dropped as with "\n" (turn by turn, such a cue number is no longer a turn).
# 0.33.0: the bundled corpus holds Macau batch 20 (120 security-team calls, real and fake); scoring and
# every saved model's scores are unchanged.
# 0.34.0: training spreads the in-domain (boosted) sources over the folds that choose the thresholds, so
# a new model's calibration and thresholds differ; scoring and every saved model's scores are unchanged.
SAME_SCORES_SINCE = "0.5.0"
_MAX_HEADER = 1 << 20

# Exactly the globals a scamclf model contains (found by auditing saved models), checked before
# anything is imported: a prefix rule ("any sklearn class") would import arbitrary modules, and
# some run code at import time.
_ALLOWED_GLOBALS = frozenset(
    {
        ("scamclf.model", "ScamClassifier"),
        ("scamclf.features", "ScamFeatures"),
        ("scamclf.ngrams", "NgramTfidf"),
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("sklearn.multiclass", "OneVsRestClassifier"),
        ("sklearn.preprocessing._label", "LabelBinarizer"),
        ("builtins", "slice"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("builtins", "object"),
        ("builtins", "dict"),
        ("builtins", "list"),
        ("builtins", "tuple"),
        ("builtins", "str"),
        ("builtins", "int"),
        ("builtins", "float"),
        ("builtins", "bool"),
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("copyreg", "_reconstructor"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy", "float64"),
        ("numpy", "float32"),
        ("numpy", "int64"),
        ("numpy", "int32"),
        ("numpy", "intc"),
        ("numpy", "bool_"),
        ("numpy", "object_"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.random", "__RandomState_ctor"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("numpy.random._pickle", "__bit_generator_ctor"),
        ("numpy.random.mtrand", "RandomState"),
        ("numpy.random._mt19937", "MT19937"),
        ("scipy.sparse._csr", "csr_matrix"),
        ("scipy.sparse._csc", "csc_matrix"),
        ("scipy.sparse.csr", "csr_matrix"),
        ("scamclf.features", "Lexicon"),
    }
)


class VersionMismatchWarning(UserWarning):
    """The model was written with another scikit-learn or scamclf version."""


def _is_allowed(module: str, name: str) -> bool:
    return (module, name) in _ALLOWED_GLOBALS


class _RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """Builds only allow-listed globals, and never sets attributes on a class.

    The pure-Python unpickler is used so that BUILD can be checked: BUILD on a bare class
    would ``setattr`` on the class itself and change it for the whole process.
    """

    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def find_class(self, module: str, name: str) -> Any:
        if not _is_allowed(module, name):
            raise ModelIntegrityError(f"refused to load {module}.{name}: not a type a scamclf model contains")
        return super().find_class(module, name)

    def _load_build_checked(self) -> None:
        if isinstance(self.stack[-2], type):
            raise ModelIntegrityError("refused to load: the model tries to modify a class")
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]

    dispatch[pickle.BUILD[0]] = _load_build_checked


def audit_pickle(payload: bytes) -> list[str]:
    """Return the globals a pickle would import that are not allowed, without running it."""
    bad: list[str] = []
    pushed: list[str | None] = []  # recent pushes, enough to resolve STACK_GLOBAL arguments
    memo: dict[int, str | None] = {}
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(payload)):
            name = opcode.name
            if name in {"SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"}:
                pushed.append(str(arg))
            elif name in {"BINGET", "LONG_BINGET", "GET"}:
                pushed.append(memo.get(int(arg)))
            elif name in {"BINPUT", "LONG_BINPUT", "PUT"}:
                memo[int(arg)] = pushed[-1] if pushed else None
            elif name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif name == "FRAME":
                continue
            elif name == "GLOBAL":
                module, attr = str(arg).split(" ", 1)
                if not _is_allowed(module, attr):
                    bad.append(f"{module}.{attr}")
                pushed.append(None)
            elif name == "STACK_GLOBAL":
                module, attr = (pushed[-2], pushed[-1]) if len(pushed) >= 2 else (None, None)
                if module is None or attr is None:
                    bad.append("<unresolvable global>")
                elif not _is_allowed(module, attr):
                    bad.append(f"{module}.{attr}")
                pushed.append(None)
            elif name in {"INST", "OBJ"}:
                bad.append(f"<{name} opcode>")
            else:
                pushed.append(None)
            del pushed[:-4]
    except Exception as exc:  # malformed opcode stream
        raise ModelIntegrityError(f"the model payload is not a valid pickle ({exc})") from exc
    return bad


def _versions() -> dict[str, str]:
    import numpy
    import scipy
    import sklearn

    return {
        "scamclf": __version__,
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }


def save_model(model: Any, path: str | Path, *, metadata: dict[str, Any] | None = None, force: bool = False) -> Path:
    """Save ``model`` with a verified header to ``path``, atomically.

    Parameters
    ----------
    model : ScamClassifier
        A fitted estimator.
    path : str or Path
        Target file; an existing file is refused unless ``force``.
    metadata : dict, optional
        Extra JSON-serialisable facts (training data hash, metrics, classes, thresholds).
    force : bool
        Replace an existing file.

    Examples
    --------
    >>> # save_model(clf, "models/scamclf.joblib", metadata={"data_sha256": "..."})
    """
    payload = pickle.dumps(model, protocol=5)
    disallowed = audit_pickle(payload)
    if disallowed:  # a bug in scamclf, not user error: keep the allow-list in step
        raise ModelError(f"model holds types outside the load allow-list: {', '.join(sorted(set(disallowed)))}")
    header = {
        # Metadata first: a loaded model's header carries the old file's hash and versions,
        # which must not survive into the new file.
        **(metadata or {}),
        "format": "scamclf-model",
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "payload_bytes": len(payload),
    }
    header_line = json.dumps(header, ensure_ascii=False, sort_keys=True, default=_json_default).encode("utf-8")
    if b"\n" in header_line or len(header_line) > _MAX_HEADER:
        raise ModelError("model metadata is too large to store in the header")
    return atomic_write_bytes(path, MAGIC + header_line + b"\n" + payload, force=force, what="model")


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _split(path: Path) -> tuple[dict[str, Any], bytes]:
    if not path.exists():
        raise ModelError(f"{path}: no model file; train one with `scamclf train` or give --model-path")
    if path.is_dir():
        raise ModelError(f"{path}: is a directory, not a model file")
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise ModelIntegrityError(
            f"{path}: not a scamclf model file (no scamclf header); retrain or give the right --model-path"
        )
    end = data.find(b"\n", len(MAGIC), len(MAGIC) + _MAX_HEADER)
    if end < 0:
        raise ModelIntegrityError(f"{path}: model header is truncated or corrupt; retrain the model")
    try:
        header = json.loads(data[len(MAGIC) : end].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelIntegrityError(f"{path}: model header is not valid JSON; the file is corrupt, retrain it") from exc
    if not isinstance(header, dict) or header.get("format") != "scamclf-model":
        raise ModelIntegrityError(f"{path}: not a scamclf model file; retrain or give the right --model-path")
    return header, data[end + 1 :]


def read_header(path: str | Path) -> dict[str, Any]:
    """Return a model file's header (metadata) without unpickling anything."""
    header, _ = _split(Path(path))
    return header


def verify_model(path: str | Path) -> dict[str, Any]:
    """Check a model file without unpickling it; return its header or raise.

    Checks the magic, the format version, the payload size and SHA-256, and audits the pickle's
    opcodes against the allow-list.

    Raises
    ------
    ModelError, ModelIntegrityError
        With a one-line reason.
    """
    return _verified(Path(path))[0]


def _verified(path: Path, *, audit: bool = True) -> tuple[dict[str, Any], bytes]:
    """Read the file once and verify those bytes; return the header and the verified payload.

    ``audit=False`` skips the static opcode scan: loading enforces the same allow-list in the
    unpickler itself, before any disallowed object can be built, at half the cost.
    """
    header, payload = _split(path)
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(
            f"{path}: unknown model format version {version!r} (this scamclf reads {FORMAT_VERSION}); "
            "retrain the model or upgrade scamclf"
        )
    if len(payload) != header.get("payload_bytes"):
        raise ModelIntegrityError(
            f"{path}: model file is truncated ({len(payload)} of {header.get('payload_bytes')} payload bytes); retrain it"
        )
    if hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
        raise ModelIntegrityError(
            f"{path}: model file was modified (SHA-256 does not match its header); refusing to load it"
        )
    disallowed = audit_pickle(payload) if audit else []
    if disallowed:
        raise ModelIntegrityError(
            f"{path}: model file holds disallowed objects ({', '.join(sorted(set(disallowed))[:3])}); refusing to load it"
        )
    return header, payload


def load_model(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Verify and load a model file; return ``(model, header)``.

    A model written by another scikit-learn version loads with a
    :class:`VersionMismatchWarning`.
    """
    path = Path(path)
    # The bytes unpickled are the bytes verified: the file is read once.
    header, payload = _verified(path, audit=False)
    try:
        model = _RestrictedUnpickler(io.BytesIO(payload)).load()
    except ModelIntegrityError as exc:
        raise ModelIntegrityError(f"{path}: {exc}") from exc
    except Exception as exc:
        raise ModelError(f"{path}: model could not be loaded ({type(exc).__name__}: {exc}); retrain it") from exc
    written = header.get("versions", {})
    current = _versions()
    for package in ("scikit-learn", "scamclf"):
        if package == "scamclf" and _scores_like_this_version(written.get(package)):
            continue
        if written.get(package) != current[package]:
            warnings.warn(
                f"{path}: model written with {package} {written.get(package)}, running {current[package]}; "
                "predictions may differ, retrain to be sure",
                VersionMismatchWarning,
                stacklevel=2,
            )
    return model, header


def _scores_like_this_version(version: Any) -> bool:
    """Whether a model written by scamclf ``version`` scores as this scamclf scores it.

    >>> _scores_like_this_version(SAME_SCORES_SINCE), _scores_like_this_version("0.2.0")
    (True, False)
    """

    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".")[:3])

    try:
        return parts(SAME_SCORES_SINCE) <= parts(str(version)) <= parts(__version__)
    except ValueError:  # a development or malformed version: be careful
        return version == __version__


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(read_header(sys.argv[1]), indent=2))
