"""scripts/merge_macau_batch.py: the mechanical merge of a reviewed Macau corpus batch."""

import hashlib
import importlib.util
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "merge_macau_batch.py"


@pytest.fixture()
def merge(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("merge_macau_batch", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    corpus = tmp_path / "data" / "raw" / "macau"
    corpus.mkdir(parents=True)
    (corpus / "PATTERNS.md").write_text("# Pattern ids\n\n| id | public pattern |\n| --- | --- |\n| P01 | old |\n")
    (corpus / "SOURCES.md").write_text(
        "# Public sources for the pattern ids (P00..P32, P40..P131)\n\nAll ids (P01..P32, P40..P131) are verified (P40..P59 for batch 4).\n"
        "\n## Sources\n\n| id | detail |\n| --- | --- |\n| P01 | old source |\n\n## What each pattern relies on\n\n- P01: x\n"
    )
    (corpus / "en.jsonl").write_text('{"id": "en-1"}\n')
    staging = tmp_path / "data" / "raw" / "macau_batch14"
    staging.mkdir()
    row = '{"id": "en-14001", "text": "hello"}\n'
    (staging / "en_14.jsonl").write_text(row)
    digest = hashlib.sha256(row.encode()).hexdigest()
    (staging / "HASHES.md").write_text(
        f"| file | rows | sha256 |\n| --- | --- | --- |\n| en_14.jsonl | 1 | {digest} |\n"
    )
    (staging / "sources_en_14.md").write_text(
        "# Sources\n\n## (a) Patterns\n\n| id | description |\n| --- | --- |\n| P132 | new pattern |\n\n"
        "## (b) Sources\n\n| id | detail |\n| --- | --- |\n| P132 | new source |\n\n## Notes and gaps\n\n- a gap\n"
    )
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True)
    # The reviewer's log arrives after the staged files were committed: untracked, as in real merges.
    (staging / "REVIEW_BATCH14.md").write_text("# Review\n")
    monkeypatch.setattr(module, "CORPUS", corpus)
    return module, corpus, staging


def test_merge_moves_files_appends_patterns_and_sources_and_widens_the_range(merge, capsys):
    module, corpus, staging = merge
    assert module.main([str(staging), "--apply"]) == 0
    out = capsys.readouterr().out
    assert "en_14.jsonl" in out and "- a gap" in out and "1 pattern rows and 1 source rows" in out
    assert not staging.exists() and (corpus / "en_14.jsonl").is_file() and (corpus / "REVIEW_BATCH14.md").is_file()
    assert (corpus / "PATTERNS.md").read_text().endswith("| P01 | old |\n| P132 | new pattern |\n")
    sources = (corpus / "SOURCES.md").read_text()
    assert "| P01 | old source |\n| P132 | new source |\n\n## What each" in sources
    assert sources.count("P40..P132") == 2 and "P131" not in sources and "P40..P59 for batch 4" in sources


def test_dry_run_changes_nothing(merge):
    module, corpus, staging = merge
    before = (corpus / "SOURCES.md").read_text()
    assert module.main([str(staging)]) == 0
    assert staging.is_dir() and (corpus / "SOURCES.md").read_text() == before


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda s, c: (s / "REVIEW_BATCH14.md").unlink(), "independent review"),
        (lambda s, c: (s / "HASHES.md").unlink(), "record the hashes"),
        (lambda s, c: (s / "fr_14.jsonl").write_text("{}\n"), "HASHES.md lists"),
        (lambda s, c: (c / "en_14.jsonl").write_text("{}\n"), "already exists"),
        (lambda s, c: (c / "PATTERNS.md").write_text("| P132 | taken |\n"), "already in PATTERNS.md"),
        (
            lambda s, c: (s / "sources_en_14.md").write_text("## (a) Patterns\n| P133 | x |\n## (b) Sources\n"),
            "no row under '(b) Sources'",
        ),
        (lambda s, c: (s / "sources_en_14.md").write_text("## (a) Patterns\n| P133 | x |\n"), "no '## (b) Sources'"),
    ],
)
def test_a_staging_folder_that_is_not_ready_is_refused_with_one_line(merge, capsys, breakage, message):
    module, corpus, staging = merge
    breakage(staging, corpus)
    assert module.main([str(staging), "--apply"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert staging.is_dir() and not (corpus / "REVIEW_BATCH14.md").exists()
