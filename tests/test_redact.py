import json
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from scamclf.cli import app
from scamclf.redact import find_personal_data, redact, redact_evidence, redact_frame

runner = CliRunner()

PERSONAL = {
    # Malaysia
    "012-345 6789": "[PHONE]",
    "0123456789": "[PHONE]",
    "011-1234 5678": "[PHONE]",
    "+60 12-345 6789": "[PHONE]",
    "+6012 345 6789": "[PHONE]",
    "(03) 1234 5678": "[PHONE]",
    "900101-14-5678": "[ID]",
    "900101 14 5678": "[ID]",
    "900101145678": "[ID]",
    # Singapore
    "9123 4567": "[PHONE]",
    "+65 6123 4567": "[PHONE]",
    "S1234567D": "[ID]",
    "t7654321z": "[ID]",
    # China
    "138 1234 5678": "[PHONE]",
    "13812345678": "[PHONE]",
    "+86 138-1234-5678": "[PHONE]",
    "11010519491231002X": "[ID]",
    "110105194912310021": "[ID]",
    # Taiwan
    "0912-345-678": "[PHONE]",
    "+886 912 345 678": "[PHONE]",
    "A123456789": "[ID]",
    # Cards (Luhn-valid) and accounts
    "4111 1111 1111 1111": "[CARD]",
    "4111-1111-1111-1111": "[CARD]",
    "5500005555555559": "[CARD]",
    "378282246310005": "[CARD]",
    "1234567890123": "[ACCOUNT]",
    "5123 4567 8901": "[ACCOUNT]",
    "514-123-456789": "[ACCOUNT]",
    "５１２３４５６７８９０": "[ACCOUNT]",  # full-width digits
    # E-mail
    "lim.ah-kow+alerts@maybank.com.my": "[EMAIL]",
    "officer_123@polis.gov.my": "[EMAIL]",
}

KEPT = [
    "press 1 to speak to an officer",
    "transfer rm 2,400.50 by 10:30 tonight",
    "a fine of 50000 ringgit",
    "case 1234567",  # seven digits: a case number, not an account
    "on 2024-01-15 at 3 pm",
    "转账5万元到安全账户",
    "hello @everyone",
    "",
]


@pytest.mark.parametrize(("value", "mask"), PERSONAL.items(), ids=list(PERSONAL))
def test_redact_masks_each_kind(value, mask):
    assert redact(f"call {value} now") == f"call {mask} now"
    assert redact(f"号码{value}。") == f"号码{mask}。"
    assert find_personal_data(value)[0][0] == mask.strip("[]")


@pytest.mark.parametrize("text", KEPT)
def test_redact_keeps_text_without_personal_data(text):
    assert redact(text) == text
    assert find_personal_data(text) == []


def test_redact_masks_numbers_next_to_each_other():
    assert redact("0123456789 0198765432, 9123 4567") == "[PHONE] [PHONE], [PHONE]"


PIECES = st.sampled_from(
    ["0", "1", "8", "9", " ", "-", ".", "+", "(", ")", "@", "a", "x", "S", "D", ",", "你", "٣", "５"]
)
NOISY_TEXT = st.one_of(st.text(max_size=80), st.lists(PIECES, max_size=80).map("".join))


@given(text=NOISY_TEXT)
def test_redacted_text_holds_no_personal_data(text):
    masked = redact(text)
    assert find_personal_data(masked) == []
    assert redact(masked) == masked


@given(before=NOISY_TEXT, value=st.sampled_from(sorted(PERSONAL)), after=NOISY_TEXT)
def test_personal_data_inside_any_text_is_masked(before, value, after):
    masked = redact(f"{before} , {value} , {after}")
    assert value not in masked
    assert find_personal_data(masked) == []


@given(text=st.text(alphabet=st.characters(blacklist_categories=("Nd",), blacklist_characters="@")))
def test_text_without_digits_or_at_signs_is_unchanged(text):
    assert redact(text) == text


@pytest.mark.parametrize("invisible", ["\u200b", "\u200d", "\u00ad", "\u2060", "\ufeff", "\u202e"])
@pytest.mark.parametrize(("value", "mask"), PERSONAL.items(), ids=list(PERSONAL))
def test_invisible_characters_cannot_hide_personal_data(value, mask, invisible):
    # Before 0.31.0 a zero-width space between the digits kept every pattern from matching.
    hidden = invisible.join(value)
    assert redact(f"call {hidden} now") == f"call {mask} now"
    # Next to a number, as a separator: "NRIC\u200bS1234567D" read as one word hid the ID.
    beside = redact(f"no{invisible}{value}{invisible}ok")
    if mask == "[EMAIL]":  # the joined reading runs the words into the address: all of it is masked
        assert beside == mask
    else:
        assert beside == f"no{invisible}{mask}{invisible}ok"


def test_redaction_keeps_invisible_characters_outside_personal_data():
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # a word spelt with a zero-width non-joiner
    assert (
        redact(f"{persian} 012\u200b-345 6789 \U0001f469\u200d\U0001f4bb")
        == f"{persian} [PHONE] \U0001f469\u200d\U0001f4bb"
    )
    assert find_personal_data("0\u200b1\u200b2\u200b3\u200b4\u200b5\u200b6\u200b7\u200b8\u200b9")[0][0] == "PHONE"


def test_redact_evidence_masks_fragments_of_personal_data():
    text = "this is bukit aman call 012-345 6789 or pay to 5123 4567 8901 before 5 pm"
    phrases = ["call 012", "012 345", "to 5123", "before 5", "bukit aman"]
    assert redact_evidence(phrases, text) == ["call [PHONE]", "[PHONE]", "to [ACCOUNT]", "before 5", "bukit aman"]


def test_redact_frame_masks_text_cells_only():
    frame = pd.DataFrame({"text": ["call 012-345 6789", None], "caller": [60123456789, 1], "n": [1.5, np.nan]})
    out = redact_frame(frame, frame.columns)
    assert out["text"].iloc[0] == "call [PHONE]" and pd.isna(out["text"].iloc[1])
    assert out["caller"].tolist() == [60123456789, 1]
    assert frame["text"].iloc[0] == "call 012-345 6789"


CALLS = pd.DataFrame(
    {
        "caller": ["+60 12-345 6789", "9123 4567"],
        "text": [
            "this is bukit aman, your ic 900101-14-5678 is linked to money laundering, transfer to 5123 4567 8901",
            "hi it is me, call me back on 012-345 6789 or mail lim@maybank.com.my",
        ],
    }
)


def _personal_values() -> list[str]:
    return ["6789", "5678", "8901", "4567", "lim@", "900101"]


def test_score_redact_masks_every_written_text_and_keeps_scores(model_path, tmp_path):
    CALLS.to_csv(tmp_path / "calls.csv", index=False)
    args = ["score", str(tmp_path / "calls.csv"), "--model-path", str(model_path), "--output-path"]
    assert runner.invoke(app, [*args, str(tmp_path / "plain.csv")]).exit_code == 0
    result = runner.invoke(app, [*args, str(tmp_path / "masked.csv"), "--redact"])
    assert result.exit_code == 0, result.output
    plain = pd.read_csv(tmp_path / "plain.csv", dtype=str, keep_default_na=False)
    masked = pd.read_csv(tmp_path / "masked.csv", dtype=str, keep_default_na=False)
    written = (tmp_path / "masked.csv").read_text()
    assert not [v for v in _personal_values() if v in written]
    assert masked["caller"].tolist() == ["[PHONE]", "[PHONE]"]
    assert "[ID]" in masked["text"].iloc[0] and "[EMAIL]" in masked["text"].iloc[1]
    # Scores come from the original text; only what is written is masked.
    assert masked["scam_probability"].tolist() == plain["scam_probability"].tolist()
    assert masked["verdict"].tolist() == plain["verdict"].tolist()


def test_predict_redact_masks_the_evidence(model_path, fitted):
    text = "bukit aman here: your account 5123 4567 8901 is frozen, call 012-345 6789, transfer to a safe account"
    plain = json.loads(runner.invoke(app, ["predict", text, "--model-path", str(model_path), "--json"]).stdout)
    result = runner.invoke(app, ["predict", text, "--model-path", str(model_path), "--json", "--redact"])
    assert result.exit_code == 0, result.output
    masked = json.loads(result.stdout)
    assert masked["scam_probability"] == plain["scam_probability"]
    assert not [v for v in _personal_values() if v in result.stdout]
    human = runner.invoke(app, ["predict", text, "--model-path", str(model_path), "--redact"])
    assert human.exit_code == 0 and not [v for v in _personal_values() if v in human.stdout]


def test_error_messages_never_quote_transcripts(tmp_path):
    transcript = "this is bukit aman your ic was used for money laundering transfer your savings now"
    (tmp_path / "calls.csv").write_text("text,label\n" + f"{transcript},scam\n" * 25)
    result = runner.invoke(app, ["train", str(tmp_path / "calls.csv"), "--label-col", "text"])
    assert result.exit_code == 1
    assert "unknown label values <a 82-character value> (25 rows)" in result.output
    assert "bukit aman" not in result.output


def test_evidence_made_of_number_fragments_is_masked(corpus):
    import scamclf

    numbers = pd.DataFrame(
        {
            "text": [f"call back now on 01{i}-345 {6000 + i} and transfer to 5123 4567 89{i:02d}" for i in range(10)],
            "label": "scam",
            "source": ["alpha", "beta"] * 5,
            "scam_type": "bank_impersonation",
        }
    )
    model = scamclf.train(pd.concat([corpus, numbers], ignore_index=True))
    text = "hi this is maybank, call 012-345 6789 now, your account 5123 4567 8901"
    plain = model.predict(text)
    masked = model.predict(text, redact=True)
    assert any(ch.isdigit() for e in plain["evidence"] for ch in e["phrase"])  # the model does cite the numbers
    assert not any(ch.isdigit() for e in masked["evidence"] for ch in e["phrase"])
    assert masked["scam_probability"] == plain["scam_probability"]
    row = model.score_frame(pd.DataFrame({"text": [text]}), redact=True, evidence="all").iloc[0]
    assert row["text"] == "hi this is maybank, call [PHONE] now, your account [ACCOUNT]"
    phrases = re.sub(r"\([+-]\d+\.\d\d\)", "", row["evidence"])
    assert "[PHONE]" in phrases and not any(ch.isdigit() for ch in phrases)
