import hashlib
import json
import os
import pickle
import warnings

import numpy as np
import pytest

from scamclf.errors import ModelError, ModelIntegrityError
from scamclf.persistence import MAGIC, VersionMismatchWarning, audit_pickle, load_model, read_header, verify_model


def _rewrite(path, *, header_update=None, payload=None):
    data = path.read_bytes()
    end = data.index(b"\n", len(MAGIC))
    header = json.loads(data[len(MAGIC) : end])
    body = data[end + 1 :] if payload is None else payload
    if payload is not None:
        header["payload_sha256"] = hashlib.sha256(body).hexdigest()
        header["payload_bytes"] = len(body)
    header.update(header_update or {})
    path.write_bytes(MAGIC + json.dumps(header).encode() + b"\n" + body)


def test_save_then_load_gives_identical_probabilities(fitted, model_path, corpus):
    model, header = load_model(model_path)
    np.testing.assert_array_equal(model.predict_proba(corpus["text"]), fitted.estimator.predict_proba(corpus["text"]))
    for key in (
        "format_version",
        "versions",
        "data_sha256",
        "payload_sha256",
        "threshold",
        "classes",
        "metrics",
        "created_at",
    ):
        assert key in header


def test_modified_model_is_refused(model_copy):
    data = bytearray(model_copy.read_bytes())
    data[-100] ^= 0xFF
    model_copy.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="modified"):
        load_model(model_copy)


def test_truncated_model_is_refused(model_copy):
    model_copy.write_bytes(model_copy.read_bytes()[:-500])
    with pytest.raises(ModelIntegrityError, match="truncated"):
        verify_model(model_copy)


@pytest.mark.parametrize("content", [b"", b"hello world", b"SCAMCLF\n{not json", b"\x80\x05K\x01."])
def test_non_model_files_are_refused(tmp_path, content):
    path = tmp_path / "x.joblib"
    path.write_bytes(content)
    with pytest.raises(ModelError):
        load_model(path)


def test_unknown_format_version_is_refused(model_copy):
    _rewrite(model_copy, header_update={"format_version": 99})
    with pytest.raises(ModelError, match="unknown model format version 99"):
        load_model(model_copy)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("valid_hash", [True, False])
def test_crafted_pickle_is_refused_and_never_runs(model_copy, tmp_path, valid_hash):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(marker), protocol=5)
    if valid_hash:
        _rewrite(model_copy, payload=payload)
    else:
        data = model_copy.read_bytes()
        end = data.index(b"\n", len(MAGIC))
        model_copy.write_bytes(data[: end + 1] + payload)
    with pytest.raises(ModelIntegrityError):
        load_model(model_copy)
    with pytest.raises(ModelIntegrityError):
        verify_model(model_copy)
    assert not marker.exists()


def test_restricted_unpickler_refuses_even_when_audit_is_bypassed(tmp_path):
    import io

    from scamclf.persistence import _RestrictedUnpickler

    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Exploit(marker), protocol=2)
    assert audit_pickle(payload)
    with pytest.raises(ModelIntegrityError, match="refused"):
        _RestrictedUnpickler(io.BytesIO(payload)).load()
    assert not marker.exists()


def test_other_sklearn_version_loads_with_warning(model_copy):
    header = read_header(model_copy)
    versions = dict(header["versions"], **{"scikit-learn": "0.0.1"})
    _rewrite(model_copy, header_update={"versions": versions})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_model(model_copy)
    assert any(issubclass(w.category, VersionMismatchWarning) for w in caught)


@pytest.mark.parametrize(
    ("written", "warns"),
    [("0.2.0", True), ("0.4.0", True), ("0.5.0", False), ("0.5.1", False), ("99.0.0", True), ("0.5.0rc1", True)],
)
def test_scamclf_versions_with_the_same_scores_load_without_warning(model_copy, written, warns):
    header = read_header(model_copy)
    _rewrite(model_copy, header_update={"versions": dict(header["versions"], scamclf=written)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_model(model_copy)
    assert any(issubclass(w.category, VersionMismatchWarning) for w in caught) == warns


def _stack_global_payload(module, name):
    """A protocol-4 pickle that only imports ``module.name`` (then stops)."""
    import struct

    def unicode(text):
        data = text.encode()
        return b"\x8c" + struct.pack("<B", len(data)) + data

    return b"\x80\x04" + unicode(module) + unicode(name) + b"\x93" + b"."


def test_unlisted_module_is_never_imported(model_copy):
    import sys

    module = "sklearn.utils._show_versions"
    sys.modules.pop(module, None)
    _rewrite(model_copy, payload=_stack_global_payload(module, "Anything"))
    with pytest.raises(ModelIntegrityError):
        load_model(model_copy)
    assert module not in sys.modules


def test_build_on_a_class_is_refused(model_copy):
    import io

    from scamclf.features import Lexicon
    from scamclf.persistence import _RestrictedUnpickler

    # Lexicon; state (None, {"features": None}); BUILD: would setattr on the class itself.
    payload = b"\x80\x02cscamclf.features\nLexicon\nN}X\x08\x00\x00\x00featuresNs\x86b."
    with pytest.raises(ModelIntegrityError, match="modify a class"):
        _RestrictedUnpickler(io.BytesIO(payload)).load()
    assert callable(Lexicon.features)


def test_a_loaded_model_saves_again_and_verifies(model_path, tmp_path):
    import scamclf

    model = scamclf.load(model_path)
    target = model.save(tmp_path / "again.joblib")
    assert verify_model(target)["payload_bytes"] == target.stat().st_size - target.read_bytes().index(b"\n", 8) - 1
    scamclf.load(target)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # A token pattern from a file could backtrack for ever on a crafted transcript.
        (lambda vec: setattr(vec, "token_pattern", r"(a+)+$"), "token pattern"),
        (lambda vec: setattr(vec, "analyzer", "char"), "analyzer"),
        (lambda vec: setattr(vec, "idf_", vec.idf_[:-1]), "vocabulary and weights"),
        # NaN would make every score NaN; a huge floor would score every text as empty.
        (lambda vec: setattr(vec, "norm_floor_", float("nan")), "norm floor"),
        (lambda vec: setattr(vec, "norm_floor_", 1e300), "norm floor"),
        (lambda vec: setattr(vec, "norm_floor_", -1.0), "norm floor"),
        (lambda vec: setattr(vec, "norm_floor_", "1.0"), "norm floor"),
    ],
)
def test_tampered_vectoriser_is_refused(model_path, tmp_path, change, message):
    import scamclf
    from scamclf.persistence import save_model

    model = scamclf.load(model_path)
    change(model.estimator.features_.vectorisers_[0][1])
    target = save_model(model.estimator, tmp_path / "evil.joblib")
    with pytest.raises(ModelIntegrityError, match=message):
        scamclf.load(target)


def test_model_with_the_token_pattern_before_0_30_loads_and_scores_as_it_did(model_path, tmp_path):
    # Models saved before 0.30.0 split words at combining marks; their pattern is still allowed.
    import scamclf
    from scamclf.ngrams import LEGACY_TOKEN_PATTERN, TOKEN_PATTERN
    from scamclf.persistence import save_model

    assert LEGACY_TOKEN_PATTERN != TOKEN_PATTERN
    model = scamclf.load(model_path)
    texts = ["transfer your savings to the safe account now 0 00 12", "see you at dinner", "转账到安全账户 ok"]
    before = model.score_texts(texts)["scam_probability"].tolist()
    words = next(vec for name, vec in model.estimator.features_.vectorisers_ if name == "w")
    words.token_pattern = LEGACY_TOKEN_PATTERN
    target = save_model(model.estimator, tmp_path / "old.joblib")
    assert scamclf.load(target).score_texts(texts)["scam_probability"].tolist() == before


def test_model_whose_known_scripts_are_not_text_is_refused(model_path, tmp_path):
    import scamclf
    from scamclf.persistence import save_model

    model = scamclf.load(model_path)
    assert model.estimator.features_.known_scripts_ == "CJK LATIN"
    model.estimator.features_.known_scripts_ = [97, 98]
    target = save_model(model.estimator, tmp_path / "evil.joblib")
    with pytest.raises(ModelIntegrityError, match="known scripts"):
        scamclf.load(target)


def test_model_with_another_lexicon_pattern_is_refused(model_path, tmp_path):
    import copy

    import scamclf
    from scamclf.features import Lexicon
    from scamclf.persistence import save_model

    model = scamclf.load(model_path)
    spec = copy.deepcopy(model.estimator.features_.lexicon_.spec)
    first = next(iter(spec["cues"]))
    spec["cues"][first]["en"] = [r"\b(a+)+$"]  # same cue names, a pattern that backtracks for ever
    model.estimator.features_.lexicon_ = Lexicon(spec)
    target = save_model(model.estimator, tmp_path / "evil.joblib")
    with pytest.raises(ModelIntegrityError, match="lexicon differs"):
        scamclf.load(target)


def test_model_trained_with_the_earlier_lexicon_still_loads_and_scores(corpus, tmp_path, monkeypatch):
    import scamclf
    import scamclf.features as features
    from scamclf.features import Lexicon, shipped_lexicon_specs

    current, v7, v6, v5, v4, v3, v2, v1 = shipped_lexicon_specs()
    assert [s["version"] for s in (current, v7, v6, v5, v4, v3, v2, v1)] == [8, 7, 6, 5, 4, 3, 2, 1]
    assert "negation" not in v1
    assert (
        len(current["changes"]) == 7
        and "right now" in v7["cues"]["urgency_threat"]["en"][0]
        and "right now" not in current["cues"]["urgency_threat"]["en"][0]
        and "coaching" not in v4["negation"]
        and current["cues"].keys() == v1["cues"].keys()
        and current["cues"]["secrecy"] != v5["cues"]["secrecy"]
        and current["cues"]["payment_demand"]["id"] != v6["cues"]["payment_demand"]["id"]
    )
    monkeypatch.setattr(features, "load_lexicon", lambda: Lexicon(v1))
    old = scamclf.train(corpus)
    monkeypatch.undo()
    path = old.save(tmp_path / "v1.joblib")
    loaded = scamclf.load(path)
    assert "warned_demand" not in loaded.estimator.features_.lexicon_.cues
    texts = ["we will never ask for your otp", "give me your otp now"]
    assert loaded.estimator.predict_proba(texts).tolist() == old.estimator.predict_proba(texts).tolist()
