"""scripts/edit_macau_rows.py: an edit pass rewrites the text of existing rows and nothing else."""

import hashlib
import importlib.util
import json
import os
import stat
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "edit_macau_rows.py"


@pytest.fixture()
def edit(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("edit_macau_rows", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    corpus = tmp_path / "macau"
    corpus.mkdir()
    rows = {
        "en.jsonl": [
            {"id": "en-1", "text": "hello\nok thank you", "label": "legit"},
            {"id": "en-2", "text": "pay now"},
        ],
        "zh.jsonl": [{"id": "zh-1", "text": "您好\n好的 谢谢", "label": "legit"}],
    }
    for name, items in rows.items():
        (corpus / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items), "utf-8")
    monkeypatch.setattr(module, "CORPUS", corpus)
    return module, corpus, tmp_path


def _edits(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "edits.jsonl"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def test_apply_rewrites_only_the_edited_rows(edit, capsys):
    module, corpus, tmp_path = edit
    zh_before = (corpus / "zh.jsonl").read_bytes()
    en_second = (corpus / "en.jsonl").read_bytes().splitlines(keepends=True)[1]
    path = _edits(tmp_path, json.dumps({"id": "en-1", "text": "hello\nok"}))
    assert module.main([str(path)]) == 0  # a dry run writes nothing
    assert json.loads((corpus / "en.jsonl").read_text("utf-8").splitlines()[0])["text"] == "hello\nok thank you"
    assert module.main([str(path), "--apply"]) == 0
    lines = (corpus / "en.jsonl").read_bytes().splitlines(keepends=True)
    assert json.loads(lines[0]) == {"id": "en-1", "text": "hello\nok", "label": "legit"}
    assert lines[1] == en_second and (corpus / "zh.jsonl").read_bytes() == zh_before
    out = capsys.readouterr().out
    assert hashlib.sha256((corpus / "en.jsonl").read_bytes()).hexdigest() in out
    assert "| `en.jsonl` | 1 |" in out and "zh.jsonl" not in out


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "en-9", "text": "x"}', "ids not in"),
        ('{"id": "en-1", "text": "x", "label": "scam"}', "exactly the keys id and text"),
        ('{"id": "en-1", "text": "  "}', "empty text"),
        ('{"id": "en-1", "text": "A: hello"}', "speaker label"),
        ('{"id": "en-1", "text": "hello\\n客服：请问"}', "speaker label"),
        ('{"id": "en-1", "text": "hello [laughs]"}', "bracket"),
        ('{"id": "en-1", "text": "hello\\u2028ok"}', "U+2028"),
        ('{"id": ["en-1"], "text": "hello"}', "non-empty string"),
        ('{"id": "en-2", "text": "pay now"}', "leaves the text as it was"),
        ("not json", "not JSON"),
    ],
)
def test_bad_edits_are_refused_before_anything_is_written(edit, capsys, line, message):
    module, corpus, tmp_path = edit
    before = {p.name: p.read_bytes() for p in corpus.iterdir()}
    ok = json.dumps({"id": "zh-1", "text": "您好"}, ensure_ascii=False)
    assert module.main([str(_edits(tmp_path, ok, line)), "--apply"]) == 1
    assert message in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in corpus.iterdir()} == before


def test_an_id_edited_twice_is_refused(edit, capsys):
    module, _, tmp_path = edit
    line = json.dumps({"id": "en-2", "text": "pay later"})
    assert module.main([str(_edits(tmp_path, line, line))]) == 1
    assert "edited twice" in capsys.readouterr().err


def test_edits_across_files_are_applied_together(edit):
    module, corpus, tmp_path = edit
    lines = [
        json.dumps({"id": "en-2", "text": "pay later"}),
        json.dumps({"id": "zh-1", "text": "您好"}, ensure_ascii=False),
    ]
    assert module.main([str(_edits(tmp_path, *lines)), "--apply"]) == 0
    assert json.loads((corpus / "en.jsonl").read_text("utf-8").splitlines()[1])["text"] == "pay later"
    assert json.loads((corpus / "zh.jsonl").read_text("utf-8"))["text"] == "您好"


def test_a_failed_write_changes_no_file(edit, capsys, monkeypatch):
    module, corpus, tmp_path = edit
    before = {p.name: p.read_bytes() for p in corpus.iterdir()}
    real_fdopen, calls = module.os.fdopen, []

    def failing_second(fd, *args, **kwargs):  # the second temporary file cannot be written
        calls.append(fd)
        if len(calls) == 2:
            module.os.close(fd)
            raise OSError(28, "No space left on device")
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(module.os, "fdopen", failing_second)
    lines = [
        json.dumps({"id": "en-2", "text": "pay later"}),
        json.dumps({"id": "zh-1", "text": "您好"}, ensure_ascii=False),
    ]
    assert module.main([str(_edits(tmp_path, *lines)), "--apply"]) == 1
    assert "no corpus file was changed" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in corpus.iterdir()} == before  # no temporary file left either


def test_rewritten_files_keep_an_ordinary_mode(edit):
    module, corpus, tmp_path = edit
    mask = os.umask(0)
    os.umask(mask)
    line = json.dumps({"id": "en-2", "text": "pay later"})
    assert module.main([str(_edits(tmp_path, line)), "--apply"]) == 0
    assert stat.S_IMODE((corpus / "en.jsonl").stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600
