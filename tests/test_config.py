import pytest

from scamclf.config import normalise_label, user_model_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("scam", "scam"),
        ("SPAM", "scam"),
        ("Fraud", "scam"),
        (1, "scam"),
        (True, "scam"),
        ("1", "scam"),
        (1.0, "scam"),
        ("legit", "legit"),
        ("ham", "legit"),
        ("Normal", "legit"),
        (0, "legit"),
        (False, "legit"),
        (" false ", "legit"),
    ],
)
def test_normalise_label_accepts_known_spellings(raw, expected):
    assert normalise_label(raw) == expected


@pytest.mark.parametrize("raw", ["maybe", "", None, float("nan"), 2])
def test_normalise_label_rejects_unknown_values(raw):
    assert normalise_label(raw) is None


def test_user_model_path_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert user_model_path() == tmp_path / "scamclf" / "scamclf.joblib"
