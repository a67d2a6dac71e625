"""Shared fixtures: a tiny multilingual corpus and one session-scoped fitted model."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.load_profile("ci")

SCAM = [
    "hello this is officer lim from bukit aman your ic number was used to open an account for money laundering you must transfer your savings to a safe account today and do not tell anyone",
    "this is the court calling you have an arrest warrant unless you pay the fine now press one to speak to the officer",
    "pos laju here your parcel contains drugs and fake passports i will connect you to the police officer please hold the line",
    "i am calling from bank negara your account will be frozen move all your money to the government account and read me the tac number",
    "your amazon account was charged please install anydesk so our technician can refund you give me the otp code",
    "saya pegawai polis dari bukit aman akaun encik terlibat dengan pengubahan wang haram sila pindahkan wang ke akaun selamat dan jangan beritahu sesiapa",
    "ini dari mahkamah ada waran tangkap atas nama puan sila bayar denda segera dan bagi kod tac",
    "喂你好我是公安局的警官你的身份证涉嫌洗钱案件现在需要你把钱转到安全账户配合调查不要告诉任何人",
    "您好这里是海关你的包裹里面有毒品和假护照我帮你转接到公安局请你保密",
    "congratulations you have won a lucky draw prize of fifty thousand pay the processing fee by gift card to claim it",
    "mum it is me i lost my phone i am in trouble please transfer money to this account right now dont tell dad",
    "your social security number is suspended due to fraudulent activities press one now or you will be arrested",
]
LEGIT = [
    "hi this is maybank fraud team we saw a card payment of rm two thousand was this you please answer yes or no we will never ask for your pin or otp",
    "hello i would like to report a scam call someone said they were police and asked me to move money to a safe account",
    "pos laju here i have your parcel at the gate can you come down or should i leave it with the guard",
    "this is inspector wong following up the police report you filed last week please come to the station with your ic",
    "reminder from lhdn please file your tax return through the official mytax portal before the deadline",
    "hai saya dari bank nak sahkan transaksi semalam jawab ya atau tidak sahaja kami tidak akan minta pin atau kod tac",
    "saya nak buat laporan ada orang call kata polis suruh pindah duit ke akaun selamat",
    "喂你好我想挂失我的银行卡昨天在商场丢了",
    "您好这里是顺丰快递您的包裹明天下午送到方便签收吗",
    "hey are we still on for dinner tonight i booked the table for seven",
    "hello mum i reached the office safely see you on sunday for lunch",
    "good morning i am calling to confirm your dental appointment tomorrow at ten",
]


def _corpus() -> pd.DataFrame:
    rows = []
    sources = ["alpha", "beta", "gamma"]
    for i, text in enumerate(SCAM):
        rows.append({"text": text, "label": "scam", "source": sources[i % 3], "scam_type": "government_impersonation"})
    for i, text in enumerate(LEGIT):
        rows.append({"text": text, "label": "legit", "source": sources[i % 3], "scam_type": ""})
    types = [
        "government_impersonation",
        "government_impersonation",
        "courier_parcel",
        "bank_impersonation",
        "tech_support_refund",
        "government_impersonation",
        "government_impersonation",
        "government_impersonation",
        "courier_parcel",
        "prize_lottery",
        "kidnapping_family_emergency",
        "government_impersonation",
    ]
    for row, kind in zip(rows[: len(SCAM)], types, strict=True):
        row["scam_type"] = kind
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def corpus() -> pd.DataFrame:
    """A tiny labelled corpus: 12 scam and 12 legit calls in English, Malay and Chinese."""
    return _corpus()


@pytest.fixture(scope="session")
def corpus_path(tmp_path_factory: pytest.TempPathFactory, corpus: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("data") / "calls.csv"
    corpus[["text", "label", "source"]].to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def fitted(corpus: pd.DataFrame):
    """A ScamModel fitted once on the tiny corpus."""
    import scamclf

    return scamclf.train(corpus)


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory, fitted) -> Path:
    path = tmp_path_factory.mktemp("model") / "scamclf.joblib"
    fitted.save(path)
    return path


@pytest.fixture()
def model_copy(tmp_path: Path, model_path: Path) -> Path:
    """A private copy of the saved model that a test may damage."""
    path = tmp_path / "model.joblib"
    shutil.copy(model_path, path)
    return path


@pytest.fixture(scope="session")
def saved_before_norm_floor():
    """Rebuild a fitted ``NgramTfidf`` as pickled before 0.13.0: no ``norm_floor`` attributes."""
    from scamclf.ngrams import NgramTfidf

    def rebuild(vec: NgramTfidf) -> NgramTfidf:
        state = vec.__getstate__()
        state.pop("norm_floor")
        state.pop("norm_floor_")
        old = NgramTfidf.__new__(NgramTfidf)
        old.__setstate__(state)
        return old

    return rebuild


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the real user's default model, or a ./models of the checkout."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SCAMCLF_MODEL", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def scamclf_exe() -> str:
    """Path of the installed ``scamclf`` console script (next to the running interpreter)."""
    candidate = Path(sys.executable).parent / ("scamclf.exe" if os.name == "nt" else "scamclf")
    found = str(candidate) if candidate.exists() else shutil.which("scamclf")
    if not found:
        pytest.fail("the scamclf console script is not installed; run pip install .")
    return found
