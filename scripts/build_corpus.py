"""Build the bundled default corpus (src/scamclf/data/bundled_corpus.csv.gz) from data/raw.

Only sources whose licences allow redistribution go in (see NOTICE and data/README.md), plus the
project's own Macau-scam corpus. Run from the repository root:

    python scripts/build_corpus.py          # writes the corpus and prints rows per source/label
    python scripts/build_corpus.py --check  # fails if the committed corpus is out of date
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
OUT = ROOT / "src" / "scamclf" / "data" / "bundled_corpus.csv.gz"

BUNDLED_SOURCES = (
    "robocall_ftc",
    "teleantifraud_ma",
    "sms_spam_uci",
    "indo_sms_fraud",
    "sgd_banks",
    "multidogo_custside",
    "banking77",
    "nlupp_banking",
    "kdconv_zh",
)

# Each corpus's own scam types onto the scamclf taxonomy (documented in data/README.md).
TYPE_MAP = {
    "government_impersonation": "government_impersonation",
    "bank_impersonation": "bank_impersonation",
    "parcel_courier": "courier_parcel",
    "utility_disconnection": "telecom_utility",
    "retail_account_impersonation": "tech_support_refund",
    "tech_support_refund": "tech_support_refund",
    "fake_customer_service": "tech_support_refund",
    "prize_reward": "prize_lottery",
    "prize_lottery": "prize_lottery",
    "loan_credit_debt": "loan_debt",
    "loan_credit_card": "loan_debt",
    "investment": "investment",
    "kidnapping_ransom": "kidnapping_family_emergency",
    "money_transfer_request": "kidnapping_family_emergency",
    "identity_theft": "bank_impersonation",
    "phishing": "bank_impersonation",
    "boss_acquaintance_impersonation": "other",
    "insurance_health": "other",
    "discount_offer": "other",
    "sms_spam": "other",
    "other": "other",
    "": "other",
}

# SMS Spam Collection labels marketing as spam. scamclf calls a message a scam only when it
# lures with a prize or money or asks for money, a call to a premium number, or credentials;
# other spam (ringtone clubs, handset offers, chat lines) is relabelled legit marketing.
SMS_SCAM_RULE = re.compile(
    r"(?i)\b(?:won|win|winner|prize|award|claim|cash|£|\$|guaranteed|selected|lucky|bonus|"
    r"account|verify|password|pin|bank|loan|credit|urgent|statement|voucher|reward|refund)\b|"
    r"£\s?\d|\b09\d{8,}\b"
)
SMS_PRIZE = re.compile(r"(?i)\b(?:won|win|winner|prize|award|claim|lucky|selected|bonus|voucher|reward)\b|£\s?\d")


def _read_shared_source(name: str) -> pd.DataFrame:
    frame = pd.read_csv(RAW / f"{name}.csv", dtype=str, keep_default_na=False)
    frame["scam_type"] = [
        TYPE_MAP.get(t, "other") if label == "scam" else ""
        for t, label in zip(frame["scam_type"], frame["label"], strict=True)
    ]
    if name == "sms_spam_uci":
        frame = _relabel_sms(frame)
    return frame[["text", "label", "source", "lang", "scam_type"]]


def _relabel_sms(frame: pd.DataFrame) -> pd.DataFrame:
    spam = frame["label"] == "scam"
    keep = frame["text"].str.contains(SMS_SCAM_RULE)
    marketing = spam & ~keep
    frame.loc[marketing, "label"] = "legit"
    frame.loc[marketing, "scam_type"] = ""
    prize = spam & keep & frame["text"].str.contains(SMS_PRIZE)
    frame.loc[prize, "scam_type"] = "prize_lottery"
    print(
        f"sms_spam_uci: {int(marketing.sum())} of {int(spam.sum())} spam rows relabelled legit (marketing)",
        file=sys.stderr,
    )
    return frame


def read_macau() -> pd.DataFrame:
    """Return the project's Macau-scam corpus (all data/raw/macau/*.jsonl files)."""
    rows = []
    for path in sorted((RAW / "macau").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["text", "label", "source", "lang", "scam_type"])
    frame["source"] = "macau_" + frame["lang"].astype(str)
    frame["scam_type"] = frame["scam_type"].fillna("").astype(str)
    return frame[["text", "label", "source", "lang", "scam_type"]]


def build() -> pd.DataFrame:
    """Return the bundled corpus, rows in a fixed order."""
    frames = [_read_shared_source(name) for name in BUNDLED_SOURCES]
    frames.append(read_macau())
    corpus = pd.concat(frames, ignore_index=True)
    corpus = corpus[corpus["text"].str.strip() != ""]
    return corpus.drop_duplicates(subset=["text"]).reset_index(drop=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed corpus differs")
    args = parser.parse_args()
    corpus = build()
    buffer = io.StringIO()
    corpus.to_csv(buffer, index=False, lineterminator="\n")
    data = buffer.getvalue().encode("utf-8")
    if args.check:
        current = gzip.decompress(OUT.read_bytes()) if OUT.exists() else b""
        if current != data:
            print(f"{OUT} is out of date; run python scripts/build_corpus.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    print(corpus.groupby(["source", "label"]).size().unstack(fill_value=0).to_string())
    print(f"{len(corpus)} rows, sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
