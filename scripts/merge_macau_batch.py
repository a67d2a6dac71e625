"""Merge a reviewed Macau corpus batch from its staging folder into ``data/raw/macau/``.

The mechanical part of the batch procedure in ``data/raw/macau/README.md``, done the same way
every time:

1. checks the staging folder (``data/raw/macau_batchN/``, nothing else in it): its JSON-lines
   files, ``HASHES.md`` listing each of them with its row count and its sha256 as written (checked
   against the files in the commit that added ``HASHES.md``; the hash may differ now: the review
   edits text), the reviewer's log ``REVIEW_BATCHN.md`` and the
   ``sources_*.md`` files with their "(a) Patterns" and "(b) Sources" tables;
2. refuses file names already in the corpus, pattern ids that are taken or do not continue from the
   highest id in ``PATTERNS.md``, source rows for unknown ids, table rows it cannot parse, and
   script families without a pinned fold in ``benchmarks/macau_folds.csv``;
3. appends the (a) rows to ``PATTERNS.md``, the (b) rows after the last source row of
   ``SOURCES.md``, and widens its "all ids" ranges (``P40..Pnnn``) to the new highest id;
4. moves the JSON-lines files and the review log into ``data/raw/macau/`` (``git mv``), writes the
   two Markdown files atomically, and removes the staging folder;
5. prints both hashes of every file (as written, as merged) for the datasheet, the "Notes and gaps"
   sections, and the steps left to do by hand.

Every check runs before anything is changed. Without ``--apply`` it only checks and prints. Run from
anywhere; a relative staging path is taken from the repository root:

    python scripts/merge_macau_batch.py data/raw/macau_batch14 [--apply]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from scamclf.dataset import atomic_write_bytes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import macau_folds  # noqa: E402

CORPUS = ROOT / "data" / "raw" / "macau"
FOLDS = macau_folds.FOLDS_FILE
ROW = re.compile(r"^\| (P\d+) \|")
RANGE = re.compile(r"P40\.\.P(\d+)")
TABLE_FURNITURE = re.compile(r"^\| (id|-+) \|")
# | file | rows | sha256 |, also as | `en_19.jsonl` (what it holds) | 8 / 8 / 4 | `hash` |, padded or not
HASH_ROW = re.compile(
    r"^\|[ \t]*`?([^\s`|]+\.jsonl)`?(?:[ \t]*\([^|]*\))?[ \t]*"  # the file, what it holds
    r"\|[ \t]*(\d+(?:[ \t]*/[ \t]*\d+)*)[ \t]*"  # its rows, or rows per category
    r"\|[ \t]*`?([0-9a-fA-F]{64})`?[ \t]*\|",  # its sha256
    flags=re.M,
)

HAND_STEPS = """Left to do by hand:
- SOURCES.md: the status line ("P1xx..P1yy for batch N"), a paraphrase per new id (at most 20 words)
  under "What each pattern relies on", and Gaps bullets from the notes above;
- data/raw/macau/README.md: the batch's datasheet section (both hashes, the held-out result, what the
  review changed, the shortcut audit) and the counts at its top;
- python scripts/build_corpus.py, then the counts in data/README.md (tests/test_docs.py checks them);
- git add data/raw/macau (the moves are staged, the two Markdown files are not)."""


class MergeError(Exception):
    """A staging folder that cannot be merged as it stands."""


@dataclass
class MergePlan:
    """Everything a merge changes, built and checked before anything is written."""

    staging: Path
    files: list[Path]
    review: Path
    hashes: dict[str, str]
    patterns_md: str
    sources_md: str
    new_patterns: int
    new_sources: int
    notes: list[tuple[str, str]] = field(default_factory=list)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def section(text: str, heading: str, path: Path) -> str:
    """The body of the ``## heading`` section of ``text`` (up to the next ``## ``)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if match is None:
        raise MergeError(f"{path}: no '## {heading}' section; write it as the batch brief asks")
    return match.group(1)


def table_rows(body: str, path: Path, heading: str) -> list[tuple[str, str]]:
    """(id, line) of every row of the Markdown table in ``body``; any other table line is an error."""
    rows = []
    for line in body.splitlines():
        if not line.startswith("|") or TABLE_FURNITURE.match(line):
            continue
        match = ROW.match(line)
        if match is None:
            raise MergeError(f"{path}: under '{heading}', a row does not start with '| Pnnn |': {line[:60]!r}")
        rows.append((match.group(1), line))
    return rows


def written_hashes(staging: Path, lines: dict[Path, list[str]]) -> dict[str, str]:
    """File name -> sha256 as written, from HASHES.md, whose row counts must match the files."""
    files = list(lines)
    path = staging / "HASHES.md"
    if not path.is_file():
        raise MergeError(f"{path}: missing; record the hashes as written before the review")
    found = HASH_ROW.findall(path.read_text("utf-8"))
    # rows as one number or per category ("8 / 8 / 4"); names and hashes may be in backticks
    listed = {name: (sum(int(n) for n in rows.split("/")), digest.lower()) for name, rows, digest in found}
    twice = sorted(name for name, count in Counter(name for name, _, _ in found).items() if count > 1)
    if twice:
        raise MergeError(f"{path}: lists {twice} more than once; keep one row per file")
    if sorted(listed) != sorted(p.name for p in files):
        raise MergeError(
            f"{path}: lists {sorted(listed)} but the folder holds {[p.name for p in files]}; "
            "list every staged .jsonl as '| file | rows | sha256 |' (rows may be per category, '8 / 8 / 4')"
        )
    for file in files:
        rows = sum(1 for line in lines[file] if line.strip())
        if rows != listed[file.name][0]:
            raise MergeError(f"{file}: {rows} rows, but HASHES.md says {listed[file.name][0]}; rows were added or lost")
    return {name: digest for name, (_, digest) in listed.items()}


def check_committed(staging: Path, files: list[Path], hashes: dict[str, str]) -> None:
    """Each staged file must have the listed hash in the commit that first recorded HASHES.md.

    This is what makes "as written" true: the hashes were committed with the files before the
    held-out scoring and the review, and the files in that commit are the ones hashed.
    """
    git = ["git", "-C", str(staging)]
    found = subprocess.run(
        [*git, "log", "--diff-filter=A", "--format=%H", "--", "HASHES.md"], capture_output=True, text=True
    )
    commits = found.stdout.split()
    if found.returncode != 0 or not commits:
        raise MergeError(f"{staging / 'HASHES.md'}: not committed; commit the staged files with their hashes first")
    first = commits[-1]
    top = Path(subprocess.run([*git, "rev-parse", "--show-toplevel"], capture_output=True, text=True).stdout.strip())
    for file in files:
        relative = file.resolve().relative_to(top.resolve()).as_posix()
        shown = subprocess.run([*git, "show", f"{first}:{relative}"], capture_output=True)
        if shown.returncode != 0 or hashlib.sha256(shown.stdout).hexdigest() != hashes[file.name]:
            raise MergeError(
                f"{file}: not committed with the hash HASHES.md lists (commit {first[:7]}); "
                "the hashes must be of the files as committed before the review"
            )


def check_families(lines: dict[Path, list[str]], folds: Path | None = None) -> None:
    """Every script family in the staged rows must already have a pinned benchmark fold."""
    folds = folds or FOLDS
    pinned = set(macau_folds.read_pinned(folds)["family"])
    for file, file_lines in lines.items():
        for number, line in enumerate(file_lines, start=1):
            if not line.strip():
                continue
            try:
                family = json.loads(line)["family"]
            except (ValueError, KeyError, TypeError):
                raise MergeError(f"{file}: row {number} is not a JSON object with a 'family'") from None
            if family not in pinned:
                raise MergeError(
                    f"{file}: row {number} has family {family!r}, not in {folds.name}; add it there with a fold first"
                )


def insert_sources(text: str, rows: list[str]) -> str:
    """``SOURCES.md`` with ``rows`` after the last pattern row of its '## Sources' table."""
    start = text.find("\n## Sources\n")
    end = text.find("\n## ", start + 1)
    lines = text[:end].split("\n") if start >= 0 and end >= 0 else []
    pattern_lines = [i for i, line in enumerate(lines) if i > 0 and ROW.match(line)]
    if not pattern_lines:
        raise MergeError(f"{CORPUS / 'SOURCES.md'}: no '## Sources' table with '| Pnnn |' rows before the next section")
    last = pattern_lines[-1]
    return "\n".join(lines[: last + 1] + rows + lines[last + 1 :]) + text[end:]


def widen_range(text: str, top: int) -> str:
    """``text`` with its widest ``P40..Pnnn`` ranges (the "all ids" ones) widened to end at ``top``.

    Narrower ranges ("P40..P59 for batch 4") name one batch's ids and stay as they are.
    """
    ends = [int(end) for end in RANGE.findall(text)]
    if not ends or top <= max(ends):
        return text
    widest = max(ends)
    return RANGE.sub(lambda m: f"P40..P{top}" if int(m.group(1)) == widest else m.group(0), text)


def plan(staging: Path) -> MergePlan:
    """Everything the merge will do, checked; raises MergeError on the first problem."""
    if not staging.is_dir():
        raise MergeError(f"{staging}: no such staging folder")
    match = re.fullmatch(r"macau_batch(\d+)", staging.name)
    if match is None:
        raise MergeError(f"{staging}: name the staging folder macau_batchN")
    review = staging / f"REVIEW_BATCH{match.group(1)}.md"
    if not review.is_file():
        raise MergeError(f"{review}: missing; an independent review comes before the merge")
    files = sorted(staging.glob("*.jsonl"))
    sources_files = sorted(staging.glob("sources_*.md"))
    expected = {*files, *sources_files, review, staging / "HASHES.md"}
    stray = sorted(p.name for p in staging.iterdir() if p not in expected)
    if stray:
        raise MergeError(f"{staging}: unexpected {stray}; move them out (the folder is deleted after the merge)")
    lines = {file: file.read_text("utf-8").splitlines() for file in files}
    hashes = written_hashes(staging, lines)
    check_committed(staging, files, hashes)
    for path in [*files, review]:
        if (CORPUS / path.name).exists():
            raise MergeError(f"{CORPUS / path.name}: already exists; rename the staged file")
    check_families(lines)
    patterns_md = (CORPUS / "PATTERNS.md").read_text("utf-8")
    known = set(re.findall(r"^\| (P\d+) \|", patterns_md, flags=re.M))
    top = max((int(p[1:]) for p in known), default=0)
    patterns, sources, notes = [], [], []
    for path in sources_files:
        text = path.read_text("utf-8")
        new_patterns = table_rows(section(text, "(a) Patterns", path), path, "(a) Patterns")
        new_sources = table_rows(section(text, "(b) Sources", path), path, "(b) Sources")
        ids = [pid for pid, _ in new_patterns]
        clash = sorted(set(ids) & known)
        if clash:
            raise MergeError(f"{path}: pattern ids {clash} are already in PATTERNS.md or an earlier sources file")
        known |= set(ids)
        unsourced = sorted(set(ids) - {pid for pid, _ in new_sources})
        if unsourced:
            raise MergeError(f"{path}: new pattern ids {unsourced} have no row under '(b) Sources'")
        unknown = sorted({pid for pid, _ in new_sources} - known)
        if unknown:
            raise MergeError(f"{path}: source rows for {unknown}, which neither PATTERNS.md nor the batch defines")
        patterns += new_patterns
        sources += [line for _, line in new_sources]
        notes.append((path.name, section(text, "Notes and gaps", path).strip()))
    numbers = sorted(int(pid[1:]) for pid, _ in patterns)
    if numbers != list(range(top + 1, top + 1 + len(numbers))):
        raise MergeError(f"{staging}: new pattern ids {numbers} must continue from P{top} without gaps; renumber them")
    if patterns:
        patterns_md = patterns_md.rstrip("\n") + "\n" + "\n".join(line for _, line in patterns) + "\n"
    sources_md = (CORPUS / "SOURCES.md").read_text("utf-8")
    if sources:
        sources_md = insert_sources(sources_md, sources)
    if numbers:
        sources_md = widen_range(sources_md, numbers[-1])
    return MergePlan(staging, files, review, hashes, patterns_md, sources_md, len(patterns), len(sources), notes)


def apply(merge: MergePlan) -> None:
    """Move the files with git, then write PATTERNS.md and SOURCES.md and remove the staging folder."""
    git = ["git", "-C", str(CORPUS)]
    # Stage the folder first: the reviewer's log is usually untracked, and git mv refuses those.
    subprocess.run([*git, "add", "--", str(merge.staging)], check=True)
    moves = [(path, CORPUS / path.name) for path in [*merge.files, merge.review]]
    for source, target in moves:  # a dry run of every move before the first one
        subprocess.run([*git, "mv", "-n", str(source), str(target)], check=True, capture_output=True)
    for source, target in moves:
        subprocess.run([*git, "mv", str(source), str(target)], check=True)
    for name, text in (("PATTERNS.md", merge.patterns_md), ("SOURCES.md", merge.sources_md)):
        atomic_write_bytes(CORPUS / name, text.encode("utf-8"), force=True, what=name)
    subprocess.run([*git, "rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", str(merge.staging)], check=True)
    for path in merge.staging.iterdir():  # only the files plan() expected are left
        path.unlink()
    merge.staging.rmdir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "staging", type=Path, help="the staging folder, e.g. data/raw/macau_batch14 (from the repo root)"
    )
    parser.add_argument("--apply", action="store_true", help="merge (default: check and print only)")
    args = parser.parse_args(argv)
    staging = args.staging if args.staging.is_absolute() else ROOT / args.staging
    try:
        merge = plan(staging)
    except (MergeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("| file | as written (HASHES.md) | as merged |\n| --- | --- | --- |")
    for path in merge.files:
        print(f"| {path.name} | {merge.hashes[path.name]} | {sha256(path)} |")
    print(f"\n{merge.new_patterns} pattern rows and {merge.new_sources} source rows to add")
    for name, notes in merge.notes:
        print(f"\n### Notes and gaps from {name}\n\n{notes}")
    if args.apply:
        try:
            apply(merge)
        except subprocess.CalledProcessError as error:
            print(f"error: {' '.join(error.cmd)} failed (exit {error.returncode}); see git status", file=sys.stderr)
            return 1
        except OSError as error:
            print(f"error: {error}; see git status", file=sys.stderr)
            return 1
        print(f"\nmerged into {CORPUS}.\n{HAND_STEPS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
