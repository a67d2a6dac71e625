"""scripts/merge_macau_batch.py: the mechanical merge of a reviewed Macau corpus batch."""

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "merge_macau_batch.py"
ROW = '{"id": "en-14001", "text": "hello", "family": "ordinary_family"}\n'
SOURCES = (
    "# Sources\n\n## (a) Patterns\n\n| id | description |\n| --- | --- |\n| {pid} | new pattern |\n\n"
    "## (b) Sources\n\n| id | detail |\n| --- | --- |\n| {pid} | new source |\n\n## Notes and gaps\n\n- a gap\n"
)


@pytest.fixture()
def merge(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("merge_macau_batch", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    corpus = tmp_path / "data" / "raw" / "macau"
    corpus.mkdir(parents=True)
    (corpus / "PATTERNS.md").write_text("# Pattern ids\n\n| id | public pattern |\n| --- | --- |\n| P131 | old |\n")
    (corpus / "SOURCES.md").write_text(
        "# Public sources for the pattern ids (P00..P32, P40..P131)\n\n"
        "All ids (P01..P32, P40..P131) are verified (P40..P59 for batch 4).\n"
        "\n## Sources\n\n| id | detail |\n| --- | --- |\n| P131 | old source |\n\n## What each pattern relies on\n\n- P131: x\n"
    )
    (corpus / "en.jsonl").write_text('{"id": "en-1"}\n')
    (tmp_path / "macau_folds.csv").write_text("family,fold,label\nordinary_family,1,legit\n")
    staging = tmp_path / "data" / "raw" / "macau_batch14"
    staging.mkdir()
    (staging / "en_14.jsonl").write_text(ROW)
    digest = hashlib.sha256(ROW.encode()).hexdigest()
    (staging / "HASHES.md").write_text(
        f"| file | rows | sha256 |\n| --- | --- | --- |\n| en_14.jsonl | 1 | {digest} |\n"
    )
    (staging / "sources_en_14.md").write_text(SOURCES.format(pid="P132"))
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True)
    # The reviewer's log arrives after the staged files were committed: untracked, as in real merges.
    (staging / "REVIEW_BATCH14.md").write_text("# Review\n")
    monkeypatch.setattr(module, "CORPUS", corpus)
    monkeypatch.setattr(module, "FOLDS", tmp_path / "macau_folds.csv")
    return module, corpus, staging


def _git_status(corpus: Path) -> str:
    return subprocess.run(["git", "status", "--short"], cwd=corpus.parents[2], capture_output=True, text=True).stdout


def test_merge_moves_files_appends_patterns_and_sources_and_widens_the_range(merge, capsys):
    module, corpus, staging = merge
    (staging / "sources_zh_14.md").write_text(SOURCES.format(pid="P133"))
    assert module.main([str(staging), "--apply"]) == 0
    out = capsys.readouterr().out
    assert "en_14.jsonl" in out and "- a gap" in out and "2 pattern rows and 2 source rows" in out
    assert "Left to do by hand" in out
    assert not staging.exists() and (corpus / "en_14.jsonl").is_file() and (corpus / "REVIEW_BATCH14.md").is_file()
    assert (
        (corpus / "PATTERNS.md")
        .read_text()
        .endswith("| P131 | old |\n| P132 | new pattern |\n| P133 | new pattern |\n")
    )
    sources = (corpus / "SOURCES.md").read_text()
    assert "| P131 | old source |\n| P132 | new source |\n| P133 | new source |\n\n## What each" in sources
    assert sources.count("P40..P133") == 2 and "P40..P131" not in sources and "P40..P59 for batch 4" in sources
    status = _git_status(corpus)
    assert "R  data/raw/macau_batch14/en_14.jsonl -> data/raw/macau/en_14.jsonl" in status
    assert "A  data/raw/macau/REVIEW_BATCH14.md" in status
    # A second run finds nothing to merge and says so.
    assert module.main([str(staging), "--apply"]) == 1
    assert "no such staging folder" in capsys.readouterr().err


def test_a_batch_without_new_patterns_changes_neither_table(merge):
    module, corpus, staging = merge
    (staging / "sources_en_14.md").write_text(SOURCES.format(pid="P131").replace("| P131 | new pattern |\n", ""))
    before = (corpus / "PATTERNS.md").read_text()
    assert module.main([str(staging), "--apply"]) == 0
    assert (corpus / "PATTERNS.md").read_text() == before
    assert "P40..P131" in (corpus / "SOURCES.md").read_text()


def test_dry_run_changes_nothing(merge):
    module, corpus, staging = merge
    before = (corpus / "SOURCES.md").read_text()
    assert module.main([str(staging)]) == 0
    assert staging.is_dir() and (corpus / "SOURCES.md").read_text() == before


def test_a_failed_git_step_is_one_line_and_leaves_the_tables_alone(merge, capsys):
    module, corpus, staging = merge
    (corpus.parents[2] / ".git" / "index.lock").write_text("")  # another git process holds the index
    before = (corpus / "PATTERNS.md").read_text(), (corpus / "SOURCES.md").read_text()
    assert module.main([str(staging), "--apply"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: git ") and err.count("\n") == 1
    assert ((corpus / "PATTERNS.md").read_text(), (corpus / "SOURCES.md").read_text()) == before
    assert (staging / "en_14.jsonl").is_file()


def _sources_with(pid: str, extra: str = "") -> str:
    return SOURCES.format(pid=pid) + extra


def _commit(root: Path, message: str) -> None:
    subprocess.run(["git", "add", "."], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], cwd=root, check=True)


def test_hashes_must_be_committed_with_the_files_they_hash(merge, capsys):
    module, corpus, staging = merge
    root = corpus.parents[2]
    # Files edited after the hashes were committed are fine (the review edits text) ...
    (staging / "en_14.jsonl").write_text(ROW.replace("hello", "hello there"))
    assert module.main([str(staging)]) == 0
    # ... but the hashes must be those of the files in the commit that recorded them.
    digest = "0" * 64
    (staging / "HASHES.md").write_text(
        f"| file | rows | sha256 |\n| --- | --- | --- |\n| en_14.jsonl | 1 | {digest} |\n"
    )
    _commit(root, "hashes changed afterwards")
    assert module.main([str(staging)]) == 1
    assert "not committed with the hash HASHES.md lists" in capsys.readouterr().err


def test_hashes_listed_per_category_with_backticks_are_read(merge, capsys):
    module, _corpus, staging = merge
    digest = hashlib.sha256(ROW.encode()).hexdigest()
    header = "| file | rows (scam / look-alike / ordinary) | SHA-256 as written |\n| --- | --- | --- |\n"
    # Batch 19's form: the file in backticks with what it holds, rows per category, the hash in backticks.
    (staging / "HASHES.md").write_text(header + f"| `en_14.jsonl` (English, MY / SG) | 0 / 0 / 1 | `{digest}` |\n")
    assert module.main([str(staging)]) == 0
    assert f"| en_14.jsonl | {digest} | {digest} |" in capsys.readouterr().out
    # The per-category counts are summed and checked against the file like a single count.
    (staging / "HASHES.md").write_text(header + f"| `en_14.jsonl` (English) | 1 / 0 / 1 | `{digest}` |\n")
    assert module.main([str(staging)]) == 1
    assert "1 rows, but HASHES.md says 2" in capsys.readouterr().err
    # Padded by a table formatter, counts without spaces, the hash in capitals: the same row.
    (staging / "HASHES.md").write_text(header + f"|  en_14.jsonl   |  0/0/1  |  {digest.upper()}  |\n")
    assert module.main([str(staging)]) == 0
    capsys.readouterr()
    # A file listed twice is refused, not read from its last row.
    (staging / "HASHES.md").write_text(header + f"| en_14.jsonl | 1 | {digest} |\n| en_14.jsonl | 1 | {'0' * 64} |\n")
    assert module.main([str(staging)]) == 1
    assert "lists ['en_14.jsonl'] more than once" in capsys.readouterr().err


def test_uncommitted_hashes_are_refused(merge, capsys):
    module, corpus, staging = merge
    root = corpus.parents[2]
    shutil.rmtree(root / ".git")  # a history in which the batch was never committed
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / ".gitignore").write_text("data/raw/macau_batch14/\n")
    _commit(root, "corpus only")
    assert module.main([str(staging)]) == 1
    assert "not committed; commit the staged files with their hashes first" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda s, c: (s / "REVIEW_BATCH14.md").unlink(), "independent review"),
        (lambda s, c: (s / "HASHES.md").unlink(), "record the hashes"),
        (lambda s, c: (s / "fr_14.jsonl").write_text(ROW), "list every staged .jsonl"),
        (lambda s, c: (s / "en_14.jsonl").write_text(ROW * 2), "rows were added or lost"),
        (lambda s, c: (s / "notes.txt").write_text("x"), "unexpected ['notes.txt']"),
        (lambda s, c: (c / "en_14.jsonl").write_text("{}\n"), "already exists"),
        (lambda s, c: (c / "PATTERNS.md").write_text("| P132 | taken |\n"), "already in PATTERNS.md"),
        (lambda s, c: (s / "sources_en_14.md").write_text(_sources_with("P135")), "continue from P131"),
        (
            lambda s, c: (s / "sources_en_14.md").write_text(
                SOURCES.format(pid="P132").replace("| P132 | new source", "| P140 | x")
            ),
            "no row under '(b) Sources'",
        ),
        (
            lambda s, c: (s / "sources_en_14.md").write_text(
                SOURCES.format(pid="P132").replace("| new source |", "| s |\n| P150 | y |")
            ),
            "neither PATTERNS.md nor the batch",
        ),
        (
            lambda s, c: (s / "sources_en_14.md").write_text(
                SOURCES.format(pid="P132").replace("| P132 | new pattern", "|P132| x")
            ),
            "does not start with '| Pnnn |'",
        ),
        (lambda s, c: (s / "sources_en_14.md").write_text("## (a) Patterns\n| P132 | x |\n"), "no '## (b) Sources'"),
        (
            lambda s, c: (s / "en_14.jsonl").write_text(ROW.replace("ordinary_family", "new_family")),
            "add it there with a fold",
        ),
        (lambda s, c: (c / "SOURCES.md").write_text("# Sources\n\nno table\n"), "no '## Sources' table"),
    ],
)
def test_a_staging_folder_that_is_not_ready_is_refused_with_one_line(merge, capsys, breakage, message):
    module, corpus, staging = merge
    breakage(staging, corpus)
    assert module.main([str(staging), "--apply"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert staging.is_dir() and not (corpus / "REVIEW_BATCH14.md").exists()
