"""scamclf: flag scam phone calls from their transcripts, with reasons.

Names are imported on first use, so that ``scamclf --help`` starts fast.

>>> import scamclf
>>> model = scamclf.load()  # doctest: +SKIP
>>> model.predict("this is the police, move your savings to a safe account")["verdict"]  # doctest: +SKIP
'scam'
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._version import __version__

_EXPORTS = {
    "ScamModel": "api",
    "train": "api",
    "load": "api",
    "score_file": "api",
    "stream": "api",
    "TurnScorer": "turns",
    "evaluate_file": "api",
    "training_frame": "api",
    "resolve_model_path": "api",
    "ScamClassifier": "model",
    "ScamFeatures": "features",
    "normalise_text": "features",
    "save_model": "persistence",
    "load_model": "persistence",
    "read_header": "persistence",
    "verify_model": "persistence",
    "ScamclfError": "errors",
    "DataError": "errors",
    "ModelError": "errors",
    "ModelIntegrityError": "errors",
    "OutputExistsError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'scamclf' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
