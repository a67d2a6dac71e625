"""Turn-by-turn scoring: incremental prefix scores, score --by-turn and the live stream."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scamclf.errors import DataError
from scamclf.features import normalise_text
from scamclf.turns import CallTracker, TurnScorer, reference_trajectory, split_turns

_WORDS = ["this", "is", "the", "police", "your", "parcel", "drugs", "safe", "account", "transfer", "hi", "mum"]
_TURN = st.one_of(
    st.lists(st.sampled_from(_WORDS), min_size=0, max_size=9).map(" ".join),
    st.text(max_size=30),  # anything at all: emoji, CJK, control characters, digits
)


@pytest.fixture(scope="module")
def scorer(fitted):
    return TurnScorer(fitted.estimator)


@given(turns=st.lists(_TURN, min_size=1, max_size=8))
def test_incremental_equals_from_scratch(scorer, turns):
    incremental = scorer.trajectories([turns])[0]
    assert np.all((incremental >= 0) & (incremental <= 1))
    np.testing.assert_allclose(incremental, reference_trajectory(scorer, turns), rtol=0, atol=1e-6)


def test_a_single_turn_scores_like_the_whole_text(fitted, scorer):
    text = "this is the police your parcel holds drugs transfer to a safe account"
    single = scorer.trajectories([[text]])[0][0]
    assert single == pytest.approx(fitted.estimator.predict_proba([text])[0, 1], abs=1e-5)


@pytest.mark.parametrize("text", ["hi", "otp", "who is this", "safe account"])
def test_a_short_turn_scores_like_the_short_text(fitted, scorer, text):
    # Short texts fall under the n-gram norm floor: the turn scorer must floor them the same way.
    assert min(scorer.floors) > 0
    single = scorer.trajectories([[text]])[0][0]
    assert single == pytest.approx(fitted.estimator.predict_proba([text])[0, 1], abs=1e-5)


def test_evidence_of_a_short_turn_is_floored(scorer):
    # A two-word turn sits under the norm floor: its phrases weigh what they weigh in the
    # scorer's own score (raw contribution / floor), not a whole call's share (raw / own norm).
    state = scorer.new_call()
    scorer.add_turns([state], ["safe account"])
    floored = dict(scorer.evidence(state))
    floors, scorer.floors = scorer.floors, [0.0] * len(scorer.floors)
    try:
        unfloored = dict(scorer.evidence(state))
    finally:
        scorer.floors = floors
    shared = [p for p in floored if p in unfloored and floored[p] != unfloored[p]]
    assert shared, (floored, unfloored)
    assert all(abs(floored[p]) < abs(unfloored[p]) for p in shared)


def test_interleaved_calls_keep_their_own_state(scorer):
    a = ["hi mum", "this is the police", "transfer to a safe account"]
    b = ["your parcel", "holds drugs"]
    expected_a, expected_b = scorer.trajectories([a, b])
    call_a, call_b = scorer.new_call(), scorer.new_call()
    got = scorer.add_turns([call_a, call_b, call_a, call_b, call_a], [a[0], b[0], a[1], b[1], a[2]])
    np.testing.assert_allclose(got[[0, 2, 4]], expected_a, atol=1e-12)
    np.testing.assert_allclose(got[[1, 3]], expected_b, atol=1e-12)
    assert call_a.turns == 3 and call_b.turns == 2
    assert call_a.max_probability == pytest.approx(expected_a.max())


def test_split_turns():
    assert split_turns("A: hi\r\n\nB: police\n") == ["A: hi", "B: police"]
    assert split_turns(None) == split_turns(float("nan")) == []
    assert split_turns("A: hi\n\u200b\n \ufeff\nB: po\u00adlice") == ["A: hi", "B: po\u00adlice"]
    # Lines of formatting only are not turns: a label and start time on their own line, a time range.
    exported = "Speaker 1  0:03\nhello\nSpeaker 2  0:07\nthis is the police\n00:00:09,000 --> 00:00:12,000\nok"
    assert split_turns(exported) == ["hello", "this is the police", "ok"]
    assert split_turns("...\nhello") == ["hello"]
    # An SRT cue number is formatting before its time range, and speech anywhere else.
    srt = "1\n00:00:01,000 --> 00:00:04,000\nhello\n\n2\n00:00:05,000 --> 00:00:07,500\nthis is the police\n"
    assert split_turns(srt) == ["hello", "this is the police"]
    assert split_turns("how many cards\n2\nok") == ["how many cards", "2", "ok"]
    assert split_turns("2\n00:00:05 hello") == ["2", "00:00:05 hello"]
    # Windows line endings too, and the whole text normalises to the same words as its turns.
    crlf = srt.replace("\n", "\r\n")
    assert split_turns(crlf) == ["hello", "this is the police"]
    assert normalise_text(crlf).split() == normalise_text(srt).split() == ["hello", "this", "is", "the", "police"]


def test_score_turns_one_text_per_call(fitted):
    frame = pd.DataFrame({"text": ["A: hi mum\nB: this is the police\nA: transfer to a safe account", "", "hi"]})
    out = fitted.score_turns(frame, trajectory=True)
    assert list(out.columns[-3:]) == ["alarm_turn", "max_probability", "trajectory"]
    for _, row in out.iterrows():
        path = json.loads(row["trajectory"])
        crossed = [i + 1 for i, p in enumerate(path) if p >= fitted.threshold]
        assert row["alarm_turn"] == (str(crossed[0]) if crossed else "")
        if path:
            assert row["max_probability"] == pytest.approx(max(path))
    assert json.loads(out.loc[1, "trajectory"]) == []


def test_score_turns_long_format_orders_turns_and_repeats_call_values(fitted):
    frame = pd.DataFrame(
        {
            "call": ["x", "y", "x", "x"],
            "t": [3, 1, 1, 2],
            "who": ["a", "b", "a", "b"],
            "text": ["transfer to a safe account", "hi mum", "this is the police", "your parcel holds drugs"],
        }
    )
    out = fitted.score_turns(frame, call_id_col="call", turn_col="t", speaker_col="who", trajectory=True)
    assert out["turn"].tolist() == [3, 1, 1, 2]
    x = out[out["call"] == "x"].sort_values("turn")
    path = json.loads(x["trajectory"].iloc[0])
    assert x["scam_probability"].tolist() == pytest.approx(path, abs=1e-6)
    assert x["max_probability"].nunique() == 1 and x["alarm_turn"].nunique() == 1
    scorer = TurnScorer(fitted.estimator)
    expected = scorer.trajectories([["this is the police", "your parcel holds drugs", "transfer to a safe account"]])[0]
    assert path == pytest.approx(expected, abs=1e-6)


def test_score_turns_long_format_explains_the_rows_not_judged_legit(fitted):
    frame = pd.DataFrame(
        {
            "call": ["x", "x", "x", "y", "y"],
            "text": [
                "hello",
                "this is the police your ic is linked to money laundering",
                "transfer all your savings to the safe account now",
                "hi mum",
                "see you at dinner",
            ],
        }
    )
    flagged = fitted.score_turns(frame, call_id_col="call")
    every = fitted.score_turns(frame, call_id_col="call", evidence="all")
    legit = flagged["verdict"] == "legit"
    assert legit.any() and (~legit).any()
    assert (flagged.loc[legit, "evidence"] == "").all()
    assert flagged.loc[~legit, "evidence"].tolist() == every.loc[~legit, "evidence"].tolist()
    assert (flagged.loc[~legit, "evidence"] != "").all() and (every.loc[legit, "evidence"] != "").any()
    assert "evidence" not in fitted.score_turns(frame, call_id_col="call", evidence="none").columns


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"call_id_col": "nope"}, "no column 'nope'"),
        ({"turn_col": "t"}, "give --call-id-col"),
    ],
)
def test_score_turns_bad_columns(fitted, kwargs, message):
    frame = pd.DataFrame({"text": ["hi"], "t": [1]})
    with pytest.raises(DataError, match=message):
        fitted.score_turns(frame, **kwargs)


def test_cli_score_by_turn_and_its_options(model_path, tmp_path):
    from typer.testing import CliRunner

    from scamclf.cli import app

    src = tmp_path / "turns.csv"
    pd.DataFrame({"call": ["a", "a", "b"], "text": ["hi", "this is the police", "hi mum"]}).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    args = ["score", str(src), "--model-path", str(model_path), "--by-turn", "--call-id-col", "call"]
    result = CliRunner().invoke(app, [*args, "--trajectory", "--output-path", str(out)])
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out, keep_default_na=False)
    assert scored["turn"].tolist() == [1, 2, 1]
    assert {"alarm_turn", "max_probability", "trajectory"} <= set(scored.columns)
    result = CliRunner().invoke(app, ["score", str(src), "--model-path", str(model_path), "--call-id-col", "call"])
    assert result.exit_code == 1 and "need --by-turn" in result.output


def test_tracker_bounds_memory(scorer, monkeypatch):
    import scamclf.turns as turns

    clock = [1000.0]
    monkeypatch.setattr(turns.time, "monotonic", lambda: clock[0])
    tracker = CallTracker(scorer, idle_timeout=60, max_calls=2)
    for call in ("a", "b", "c"):
        scorer.add_turns([tracker.state(call)], ["hi"])
    assert list(tracker.calls) == ["b", "c"]  # the least recently active went first
    clock[0] += 61
    tracker.state("d")
    assert list(tracker.calls) == ["d"]  # b and c idled out
    tracker.end("d")
    assert tracker.calls == {}


def test_stream_answers_each_line_before_the_next(scamclf_exe, model_path, tmp_path):
    process = subprocess.Popen(
        [scamclf_exe, "stream", "--model-path", str(model_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert process.stdin is not None and process.stdout is not None

    def ask(line: str) -> dict:
        process.stdin.write(line + "\n")
        process.stdin.flush()
        return json.loads(process.stdout.readline())  # answered before the next line is sent

    try:
        first = ask(json.dumps({"call_id": "c1", "text": "this is the police", "speaker": "caller"}))
        assert first["call_id"] == "c1" and first["turn"] == 1 and first["line"] == 1
        assert 0 <= first["scam_probability"] <= 1 and first["verdict"] in ("scam", "suspicious", "legit")
        assert isinstance(first["evidence"], list)
        assert ask("{not json")["error"].startswith("not a JSON object")
        assert "call_id" in ask(json.dumps({"text": "no id"}))["error"]
        other = ask(json.dumps({"call_id": 7, "text": "hi mum"}))
        assert other["call_id"] == "7" and other["turn"] == 1
        second = ask(json.dumps({"call_id": "c1", "text": "transfer your savings to a safe account"}))
        assert second["turn"] == 2
        alarms = [a["alarm"] for a in (first, second)]
        assert alarms.count(True) <= 1
        ended = ask(json.dumps({"call_id": "c1", "end": True}))
        assert ended["end"] is True
        again = ask(json.dumps({"call_id": "c1", "text": "hello"}))
        assert again["turn"] == 1  # a closed call starts afresh
    finally:
        process.stdin.close()
        process.wait(timeout=60)
    assert process.returncode == 0, process.stderr.read()


def test_evaluate_by_turn_writes_the_early_detection_curve(model_path, tmp_path):
    from typer.testing import CliRunner

    from scamclf.cli import app

    rows = []
    for i in range(6):
        scam = i % 2 == 0
        turns = (
            ["hi", "this is the police", "your parcel holds drugs transfer to a safe account"] if scam else ["hi mum"]
        )
        rows += [
            {"call": f"c{i}", "t": k, "text": turn, "label": "scam" if scam else "legit"}
            for k, turn in enumerate(turns)
        ]
    src = tmp_path / "turns.csv"
    pd.DataFrame(rows).sample(frac=1, random_state=0).to_csv(src, index=False)
    report_dir = tmp_path / "report"
    args = ["evaluate", str(src), "--model-path", str(model_path), "--call-id-col", "call", "--turn-col", "t"]
    result = CliRunner().invoke(app, [*args, "--by-turn", "--report-dir", str(report_dir)])
    assert result.exit_code == 0, result.output
    assert "Early detection" in result.output
    report = json.loads((report_dir / "report.json").read_text())
    early = report["early_detection"]
    assert early["calls"] == 6 and early["scam_calls"] == 3
    assert early["turns"] == [1, 2, 3]
    alarm_recall = early["alarm_recall"]
    assert alarm_recall == sorted(alarm_recall)  # an alarm, once raised, stays
    assert (report_dir / "early_detection.png").read_bytes().startswith(b"\x89PNG")
    assert "## Early detection" in (report_dir / "report.md").read_text()
    assert report["overall"]["rows"] == 6  # one row per call for the other metrics


def test_console_script_score_by_turn(scamclf_exe, model_path, tmp_path):
    src = tmp_path / "calls.csv"
    pd.DataFrame({"text": ["A: hi\nB: this is the police\nA: transfer to a safe account", "hi mum"]}).to_csv(
        src, index=False
    )
    out = tmp_path / "scored.jsonl"
    args = ["score", src, "--model-path", model_path, "--by-turn", "--trajectory", "--output-path", out]
    run = subprocess.run(
        [scamclf_exe, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [len(json.loads(r["trajectory"])) for r in rows] == [3, 1]
    assert all(r["max_probability"] == max(json.loads(r["trajectory"])) for r in rows)


@pytest.mark.parametrize(
    "line",
    ["[" * 100_000, '{"call_id": ' + "9" * 5000 + ', "text": "hi"}', '{"call_id": "a\\ud800", "text": "hi"}'],
    ids=["deep nesting", "huge number", "lone surrogate"],
)
def test_stream_survives_hostile_lines(fitted, line):
    from scamclf.api import stream

    answers = list(stream(fitted, [line, '{"call_id": "ok", "text": "hi mum"}']))
    assert "error" in answers[0] and answers[1]["turn"] == 1


def test_stream_evidence_modes(fitted):
    from scamclf.api import stream

    lines = [
        json.dumps({"call_id": "a", "text": "hi mum see you at dinner"}),
        json.dumps({"call_id": "b", "text": "this is the police your ic is linked to money laundering"}),
        json.dumps({"call_id": "b", "text": "transfer your savings to a safe account and tell no one"}),
    ]
    flagged, every, none = (list(stream(fitted, lines, evidence=mode)) for mode in ("flagged", "all", "none"))
    for f, e, n in zip(flagged, every, none, strict=True):
        assert f["scam_probability"] == e["scam_probability"] == n["scam_probability"]
        assert "evidence" not in n
        assert f["evidence"] == (e["evidence"] if f["verdict"] != "legit" else [])
    assert flagged[0]["verdict"] == "legit" and every[0]["evidence"]
    assert flagged[-1]["verdict"] != "legit" and flagged[-1]["evidence"]
