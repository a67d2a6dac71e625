import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scamclf.config import SCAM_TYPES
from scamclf.dataset import (
    TableWriter,
    atomic_write_bytes,
    check_text_column,
    detect_format,
    iter_table_chunks,
    load_bundled_corpus,
    mask_label_leaks,
    read_table,
    read_training_data,
)
from scamclf.errors import DataError, OutputExistsError


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_detect_format_by_extension_and_explicit():
    assert detect_format("a.CSV") == "csv"
    assert detect_format("a.tsv") == "tsv"
    assert detect_format("a.ndjson") == "jsonl"
    assert detect_format("a.parquet") == "parquet"
    assert detect_format("a.txt", "jsonl") == "jsonl"
    with pytest.raises(DataError, match="cannot tell the format"):
        detect_format("a.txt")
    with pytest.raises(DataError, match="unknown format"):
        detect_format("a.csv", "xml")


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("missing.csv", None, "no such file"),
        ("empty.csv", b"", "empty"),
        ("header.csv", b"text,label\n", "header but no rows"),
        ("ragged.csv", b"text,label\na,scam\nb,legit,extra\n", "malformed CSV"),
        ("binary.csv", b"text\n\x00\x01\x02\x00", "binary"),
        ("latin1.csv", "text\ncaf\xe9 ol\xe9\n".encode("latin-1"), "--encoding"),
        ("bad.jsonl", b'{"text": "a"}\n{"text": \n', "line 2 is not valid JSON"),
        ("list.jsonl", b'["a"]\n', "line 1 is a JSON list"),
        ("bad.parquet", b"not parquet at all", "not a readable Parquet"),
    ],
)
def test_read_table_refuses_bad_input_with_clear_message(tmp_path, name, content, match):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=match):
        read_table(path)


def test_read_table_refuses_directory(tmp_path):
    target = tmp_path / "dir.csv"
    target.mkdir()
    with pytest.raises(DataError, match="is a directory"):
        read_table(target)


def test_read_table_accepts_utf8_bom_and_other_encodings(tmp_path):
    bom = _write(tmp_path / "bom.csv", "\ufefftext\nhello\n".encode())
    assert read_table(bom).columns.tolist() == ["text"]
    latin = _write(tmp_path / "latin.csv", "text\ncaf\xe9\n".encode("latin-1"))
    assert read_table(latin, encoding="latin-1")["text"].tolist() == ["café"]


def test_read_table_keeps_cells_as_written(tmp_path):
    path = _write(tmp_path / "t.csv", b"id,text\n007,NA\n2,\n")
    frame = read_table(path)
    assert frame["id"].tolist() == ["007", "2"]
    assert frame["text"].tolist() == ["NA", ""]


def test_iter_table_chunks_splits_rows(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"text": f"row {i}"}) + "\n" for i in range(7)))
    assert [len(c) for c in iter_table_chunks(path, chunksize=3)] == [3, 3, 1]


def test_check_text_column_suggests_close_names():
    frame = pd.DataFrame({"transcript": ["a"], "label": ["scam"]})
    with pytest.raises(DataError, match="did you mean --text-col transcript"):
        check_text_column(frame, "text", "calls.csv")


def test_check_text_column_refuses_numbers():
    with pytest.raises(DataError, match="not text"):
        check_text_column(pd.DataFrame({"text": [1, 2]}), "text", "x.parquet")


def test_read_training_data_lists_unknown_labels(tmp_path, corpus):
    frame = corpus.copy()
    frame.loc[0, "label"] = "maybe"
    frame.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="unknown label values 'maybe'"):
        read_training_data([tmp_path / "d.csv"])


def test_read_training_data_refuses_one_class(tmp_path, corpus):
    pd.concat([corpus[corpus["label"] == "scam"]] * 2).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="no 'legit' rows"):
        read_training_data([tmp_path / "d.csv"])


def test_read_training_data_refuses_too_few_rows(tmp_path, corpus):
    corpus.head(6).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match="only 6 non-empty rows"):
        read_training_data([tmp_path / "d.csv"])


def test_rows_that_show_nothing_are_not_trained_on(tmp_path, corpus):
    blank = pd.DataFrame({"text": ["\u200b", " \ufeff\u200d ", ""], "label": ["scam", "legit", "scam"]})
    pd.concat([corpus[["text", "label"]], blank]).to_csv(tmp_path / "d.csv", index=False)
    assert len(read_training_data([tmp_path / "d.csv"])) == len(corpus)


def test_mask_label_leaks_removes_known_giveaways():
    frame = pd.DataFrame({"text": ["这是诈骗电话", "普通"], "source": ["teleantifraud_ma", "other"]})
    masked = mask_label_leaks(frame)
    assert "诈骗" not in masked["text"].iloc[0]
    assert masked["text"].iloc[1] == "普通"


def test_bundled_corpus_has_both_labels_and_taxonomy_types():
    corpus = load_bundled_corpus()
    assert set(corpus["label"]) == {"scam", "legit"}
    assert set(corpus["scam_type"]) <= {*SCAM_TYPES, ""}
    assert (corpus.loc[corpus["label"] == "legit", "scam_type"] == "").all()
    restricted = {"telecom_fraud_texts5", "switchboard_swda", "scamdetector_sg", "fraud_call_india"}
    assert not restricted & set(corpus["source"])
    assert {"macau_en", "macau_ms", "macau_zh"} <= set(corpus["source"])


def test_atomic_write_refuses_existing_file_without_force(tmp_path):
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"one")
    with pytest.raises(OutputExistsError, match="--force"):
        atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"one"
    atomic_write_bytes(target, b"two", force=True)
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_table_writer_leaves_nothing_when_not_committed(tmp_path):
    target = tmp_path / "out.csv"
    with TableWriter(target) as writer:
        writer.write(pd.DataFrame({"a": [1]}))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
@given(texts=st.lists(st.text(min_size=1).filter(lambda t: t.strip() and "\x00" not in t), min_size=1, max_size=5))
def test_formats_round_trip_text_exactly(tmp_path_factory, suffix, texts):
    target = tmp_path_factory.mktemp("rt") / f"t{suffix}"
    with TableWriter(target) as writer:
        writer.write(pd.DataFrame({"text": texts}))
        writer.commit()
    assert read_table(target)["text"].tolist() == texts


def test_written_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        target = atomic_write_bytes(tmp_path / "out.csv", b"x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_jsonl_lone_surrogate_escapes_become_replacement_characters(tmp_path, fitted):
    from scamclf.api import score_file

    src = tmp_path / "calls.jsonl"
    src.write_text(
        '{"id": 1, "text": "transfer to a safe account \\ud83d now"}\n{"id": 2, "text": "smile \\ud83d\\ude00 ok"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    assert score_file(fitted, src, out)["rows"] == 2
    scored = pd.read_csv(out, keep_default_na=False)
    assert scored["text"].tolist() == ["transfer to a safe account \ufffd now", "smile \U0001f600 ok"]
