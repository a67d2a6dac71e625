"""The bad-input catalogue of docs/errors.md, one case per table row, through the real console script."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "errors.md"

ODD_TEXTS = [
    "🚨📞 your account 💰 is frozen 😱 transfer now",
    "hello 你好 saya polis dari bukit aman 警察 safe account",
    "مرحبا هذا البنك حسابك مجمد שלום זה הבנק",
    "bell\x07 esc\x1b[31m tab\t cr\r lf\n del\x7f zwj\u200d rlo\u202e text",
    "\u2028line separator\u2029paragraph",
]


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def _parquet(frame: pd.DataFrame) -> Callable[[Path], None]:
    return lambda path: frame.to_parquet(path)


def _labelled(n: int, labels: list[str] | None = None) -> bytes:
    texts = [f"call {i}: this is bukit aman, move your savings to a safe account" for i in range(n)]
    labels = labels or ["scam", "legit"] * n
    return _csv(pd.DataFrame({"text": texts, "label": labels[:n]}))


def _read_out(tmp_path: Path) -> pd.DataFrame:
    return pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)


def _check_empty_notes(expected_rows: int) -> Callable[[Path, str], None]:
    def check(tmp_path: Path, stderr: str) -> None:
        out = _read_out(tmp_path)
        assert len(out) == expected_rows
        empty = out[out["note"] == "empty"]
        assert (empty["scam_probability"] == "").all() and (empty["verdict"] == "").all()
        assert f"Scored {expected_rows} rows" in stderr

    return check


def _check_csv_empties(tmp_path: Path, stderr: str) -> None:
    _check_empty_notes(5)(tmp_path, stderr)
    out = _read_out(tmp_path)
    assert out["id"].tolist() == ["1", "2", "3", "4", "5"]
    assert out["note"].tolist() == ["empty", "empty", "", "empty", "empty"]
    assert "4 not scored" in stderr


def _check_jsonl_nulls(tmp_path: Path, stderr: str) -> None:
    _check_empty_notes(5)(tmp_path, stderr)
    out = _read_out(tmp_path)
    assert out["id"].tolist() == ["1", "2", "3", "4", "5"]
    assert out["note"].tolist() == ["empty", "empty", "empty", "empty", ""]


def _check_short_row(tmp_path: Path, stderr: str) -> None:
    out = _read_out(tmp_path)
    assert out["id"].tolist() == ["1", "2", "3"]
    assert out["text"].tolist() == ["hello this is the police", "", "pos laju here"]
    assert out["note"].tolist() == ["", "empty", ""]


def _check_huge(tmp_path: Path, stderr: str) -> None:
    out = _read_out(tmp_path)
    assert len(out) == 1
    assert out["note"].iloc[0] == "truncated to 100000 characters"
    assert 0.0 <= float(out["scam_probability"].iloc[0]) <= 1.0
    assert len(out["text"].iloc[0]) == 10_000_000


def _check_odd(tmp_path: Path, stderr: str) -> None:
    out = _read_out(tmp_path)
    assert out["text"].tolist() == ODD_TEXTS
    # Arabic and Hebrew are scripts the model never saw: scored, and the row says so.
    assert out["note"].tolist()[:2] + out["note"].tolist()[3:] == [""] * (len(ODD_TEXTS) - 1)
    assert out["note"].iloc[2].startswith("unfamiliar writing: 100% of the letters are ")
    assert "1 row is written largely in a script the model never saw" in stderr
    assert out["verdict"].isin(["scam", "suspicious", "legit"]).all()


def _check_decoded(tmp_path: Path, stderr: str) -> None:
    assert _read_out(tmp_path)["text"].tolist() == ["café olé", "naïve"]


def _check_bom(tmp_path: Path, stderr: str) -> None:
    out = _read_out(tmp_path)
    assert out.columns[0] == "text" and out["text"].tolist() == ["hello this is maybank"]


def _check_scored(rows: int) -> Callable[[Path, str], None]:
    def check(tmp_path: Path, stderr: str) -> None:
        assert len(_read_out(tmp_path)) == rows

    return check


SCORE = ["score", "{input}", "--model-path", "{model}"]
TO_FILE = ["--output-path", "out.csv"]
TRAIN = ["train", "{input}", "--model-path", "trained.joblib"]
late_rows = [{"text": f"call {i}"} for i in range(5000)] + [{"text": "late", "extra": 1}]
sparse_rows = [{"id": i, "text": f"call {i}", "agent": None} for i in range(5000)] + [{"agent": "lim"}]


def _check_sparse(tmp_path: Path, stderr: str) -> None:
    import pyarrow.parquet as pq

    assert str(pq.read_schema(tmp_path / "out.parquet").field("id").type) == "int64"
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert len(out) == 5001 and out["id"].iloc[4999] == 4999
    last = out.iloc[-1]
    assert pd.isna(last["id"]) and pd.isna(last["text"]) and last["agent"] == "lim" and last["note"] == "empty"


def _check_replacement_character(tmp_path: Path, stderr: str) -> None:
    assert _read_out(tmp_path)["text"].tolist() == ["safe account \ufffd now"]


# id, input file name, its content (bytes, or a function writing it), arguments, exit code,
# then the expected stderr fragment (errors) or a check of the output (exit 0).
CASES: list[tuple[str, str, Any, list[str], int, Any]] = [
    ("missing-path", "missing.csv", None, SCORE, 1, "missing.csv: no such file; check the path"),
    ("directory", "folder", "DIR", SCORE, 1, "folder: is a directory; give a file"),
    ("empty-file", "empty.csv", b"", SCORE, 1, "empty.csv: the file is empty; expected a header row"),
    ("empty-stdin", "-", None, ["score", "-", "--model-path", "{model}"], 1, "Error: standard input is empty"),
    ("header-only", "header.csv", b"text,label\n", SCORE, 1, "header.csv: has a header but no rows"),
    (
        "text-column-missing",
        "calls.csv",
        b"transcript,id\nhello,1\n",
        SCORE,
        1,
        "no column 'text' (columns: transcript, id); did you mean --text-col transcript?",
    ),
    (
        "no-header",
        "nohead.csv",
        b"hello this is officer lim from bukit aman your ic was used,1\nsecond call,2\n",
        SCORE,
        1,
        "-character value>, 1); the first line looks like data, not a header: add a header row",
    ),
    (
        "csv-ragged-long",
        "ragged.csv",
        b"text,label\na,scam\nb,legit,extra\n",
        SCORE,
        1,
        "ragged.csv: malformed CSV: line 3 has 3 fields but the header has 2; fields holding commas",
    ),
    (
        "csv-ragged-short",
        "short.csv",
        b"id,text\n1,hello this is the police\n2\n3,pos laju here\n",
        SCORE + TO_FILE,
        0,
        _check_short_row,
    ),
    ("csv-open-quote", "q.csv", b'text\n"abc\n', SCORE, 1, "q.csv: malformed CSV: EOF inside string"),
    (
        "jsonl-malformed-line",
        "bad.jsonl",
        b'{"text": "a"}\n{"text": oops}\n',
        SCORE,
        1,
        "bad.jsonl: line 2 is not valid JSON (Expecting value at character 10); each line must be one JSON object",
    ),
    ("jsonl-not-object", "list.jsonl", b'["a"]\n', SCORE, 1, "list.jsonl: line 1 is a JSON list, expected an object"),
    (
        "jsonl-new-key-late",
        "late.jsonl",
        _jsonl(late_rows),
        SCORE + TO_FILE,
        1,
        "late.jsonl: line 5001 has key(s) 'extra' that the first 5000 rows lack",
    ),
    (
        "jsonl-keys-missing-later",
        "sparse.jsonl",
        _jsonl(sparse_rows),
        [*SCORE, "--output-path", "out.parquet"],
        0,
        _check_sparse,
    ),
    (
        "jsonl-text-not-string",
        "num.jsonl",
        _jsonl([{"text": "hello"}, {"text": 42}]),
        SCORE,
        1,
        "num.jsonl: column 'text' row 2 holds a int, not text",
    ),
    (
        "jsonl-lone-surrogate",
        "half.jsonl",
        b'{"text": "safe account \\ud83d now"}\n',
        [*SCORE, *TO_FILE],
        0,
        _check_replacement_character,
    ),
    (
        "parquet-text-not-string",
        "int.parquet",
        _parquet(pd.DataFrame({"text": [1, 2]})),
        SCORE,
        1,
        "int.parquet: column 'text' holds int64 values, not text; pass --text-col",
    ),
    ("parquet-corrupt", "bad.parquet", b"not parquet at all", SCORE, 1, "bad.parquet: not a readable Parquet file"),
    (
        "parquet-output-mixed-types",
        "mixed.jsonl",
        _jsonl([{"id": 1, "text": "hello"}, {"id": "abc", "text": "safe account"}]),
        [*SCORE, "--output-path", "out.parquet"],
        1,
        "cannot write Parquet: column 'id' mixes types",
    ),
    ("binary-file", "bin.csv", b"text\n\x00\x01\x02\x00", SCORE, 1, "bin.csv: looks like a binary file (NUL bytes)"),
    (
        "utf16-without-encoding",
        "u16.csv",
        "text\nhello\n".encode("utf-16"),
        SCORE,
        1,
        "u16.csv: looks like UTF-16 text (byte-order mark), not utf-8; pass --encoding utf-16",
    ),
    (
        "utf16-with-encoding",
        "u16.csv",
        "text\nhello\n".encode("utf-16"),
        [*SCORE, *TO_FILE, "--encoding", "utf-16"],
        0,
        _check_scored(1),
    ),
    (
        "non-utf8",
        "latin1.csv",
        "text\ncafé olé\nnaïve\n".encode("latin-1"),
        SCORE,
        1,
        "latin1.csv: not valid utf-8 text (byte 0xe9 at line 2, byte offset 8); pass --encoding",
    ),
    (
        "non-utf8-with-encoding",
        "latin1.csv",
        "text\ncafé olé\nnaïve\n".encode("latin-1"),
        [*SCORE, *TO_FILE, "--encoding", "latin-1"],
        0,
        _check_decoded,
    ),
    ("utf8-bom", "bom.csv", "\ufefftext\nhello this is maybank\n".encode(), SCORE + TO_FILE, 0, _check_bom),
    (
        "unknown-encoding",
        "calls.csv",
        b"text\nhi\n",
        [*SCORE, "--encoding", "klingon"],
        1,
        "unknown encoding 'klingon'",
    ),
    (
        "empty-transcripts-csv",
        "blanks.csv",
        b'id,text\n1,\n2,"   "\n3,hello this is the police\n4,"\t\n"\n5," "\n',
        SCORE + TO_FILE,
        0,
        _check_csv_empties,
    ),
    (
        "null-transcripts-jsonl",
        "nulls.jsonl",
        _jsonl(
            [
                {"id": 1, "text": None},
                {"id": 2, "text": ""},
                {"id": 3, "text": "  "},
                {"id": 4},
                {"id": 5, "text": "transfer to a safe account"},
            ]
        ),
        SCORE + TO_FILE,
        0,
        _check_jsonl_nulls,
    ),
    (
        "huge-transcript",
        "huge.csv",
        _csv(pd.DataFrame({"text": ["safe account police " * 500_000]})),
        SCORE + TO_FILE,
        0,
        _check_huge,
    ),
    ("odd-characters", "odd.csv", _csv(pd.DataFrame({"text": ODD_TEXTS})), SCORE + TO_FILE, 0, _check_odd),
    (
        "output-is-directory",
        "calls.csv",
        b"text\nhi\n",
        [*SCORE, "--output-path", "folder.csv"],
        1,
        "folder.csv: is a directory; give a file path for --output-path",
    ),
    (
        "output-exists",
        "calls.csv",
        b"text\nhi\n",
        [*SCORE, "--output-path", "kept.csv"],
        1,
        "kept.csv: output file exists; pass --force to replace it",
    ),
    (
        "train-one-class",
        "one.csv",
        _labelled(24, ["scam"] * 24),
        TRAIN,
        1,
        "one.csv: no 'legit' rows, only 'scam'; training needs both classes",
    ),
    (
        "train-too-few-rows",
        "few.csv",
        _labelled(10),
        TRAIN,
        1,
        "few.csv: only 10 non-empty rows; training needs at least 20",
    ),
    (
        "train-unknown-labels",
        "unk.csv",
        _labelled(24, ["scam", "maybe", "legit", "?", "", "legit"] * 4),
        TRAIN,
        1,
        "unk.csv: column 'label' has unknown label values '' (empty), '?', 'maybe' (12 rows); use scam/legit",
    ),
]


def _documented_ids() -> list[str]:
    return re.findall(r"^\| `([a-z0-9-]+)` \|", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)


def _run_case(exe: str, model_path: Path, folder: Path, case: tuple[Any, ...]) -> subprocess.CompletedProcess[bytes]:
    """Lay out one row's files in its own folder and run the console script there."""
    _, name, content, args, _, _ = case
    folder.mkdir()
    if name != "-":
        target = folder / name
        if content == "DIR":
            target.mkdir()
        elif callable(content):
            content(target)
        elif content is not None:
            target.write_bytes(content)
    (folder / "folder.csv").mkdir()
    (folder / "kept.csv").write_text("keep me")
    argv = [a.replace("{input}", name).replace("{model}", str(model_path)) for a in args]
    env = {k: v for k, v in os.environ.items() if k != "SCAMCLF_MODEL"}
    env["XDG_DATA_HOME"] = str(folder / "xdg")
    return subprocess.run([exe, *argv], cwd=folder, input=b"", capture_output=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def catalogue_runs(scamclf_exe, model_path, tmp_path_factory) -> dict[str, tuple[Path, Any]]:
    """Run every row at once (each a real process; most of their time is start-up), keyed by id."""
    base = tmp_path_factory.mktemp("catalogue")
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        futures = {c[0]: pool.submit(_run_case, scamclf_exe, model_path, base / c[0], c) for c in CASES}
        return {key: (base / key, future.result()) for key, future in futures.items()}


def test_catalogue_table_and_tests_list_the_same_rows():
    assert _documented_ids() == [case[0] for case in CASES]


@pytest.mark.parametrize(("code", "expect"), [c[4:] for c in CASES], ids=[c[0] for c in CASES])
def test_catalogue_row(catalogue_runs, request, code, expect):
    folder, run = catalogue_runs[request.node.callspec.id]
    stderr = run.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr
    assert "bukit aman" not in stderr, "a message quotes transcript text"
    assert run.returncode == code, stderr
    assert not list(folder.glob(".*.tmp")), "a temporary file was left behind"
    if code == 0:
        expect(folder, stderr)
        return
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: ")
    assert expect in lines[0]
    assert not (folder / "out.csv").exists() and not (folder / "out.parquet").exists()
    assert not (folder / "trained.joblib").exists()
    assert (folder / "kept.csv").read_text() == "keep me"
