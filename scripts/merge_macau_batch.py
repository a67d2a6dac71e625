"""Merge a reviewed Macau corpus batch from its staging folder into ``data/raw/macau/``.

The mechanical part of the batch procedure in ``data/raw/macau/README.md``, done the same way
every time:

1. checks the staging folder (``data/raw/macau_batchN/``): its JSON-lines files, the hashes they
   had as written (``HASHES.md``), the reviewer's log ``REVIEW_BATCHN.md`` and the ``sources_*.md``
   files with their "(a) Patterns" and "(b) Sources" tables;
2. refuses pattern ids already in ``PATTERNS.md`` and file names already in the corpus;
3. appends the (a) rows to ``PATTERNS.md``, the (b) rows after the last source row of
   ``SOURCES.md``, and widens the id range named in its header;
4. moves the JSON-lines files and the review log into ``data/raw/macau/`` (``git mv``) and
   removes the staging folder;
5. prints both hashes of every file (as written, as merged) for the datasheet, and the
   "Notes and gaps" sections, whose paraphrases and gap bullets are written by hand.

Without ``--apply`` it only checks and prints what it would do. Run from the repository root:

    python scripts/merge_macau_batch.py data/raw/macau_batch14 [--apply]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "raw" / "macau"
ROW = re.compile(r"^\| (P\d+) \|")
RANGE = re.compile(r"P40\.\.P(\d+)")


class MergeError(Exception):
    """A staging folder that cannot be merged as it stands."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def section(text: str, heading: str, path: Path) -> str:
    """The body of the ``## heading`` section of ``text`` (up to the next ``## ``)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if match is None:
        raise MergeError(f"{path}: no '## {heading}' section; write it as the batch brief asks")
    return match.group(1)


def table_rows(body: str) -> list[str]:
    """The pattern rows (``| Pnnn | ...``) of a Markdown table."""
    return [line for line in body.splitlines() if ROW.match(line)]


def written_hashes(staging: Path) -> dict[str, str]:
    """File name -> sha256 as recorded in the staging folder's HASHES.md."""
    path = staging / "HASHES.md"
    if not path.is_file():
        raise MergeError(f"{path}: missing; record the hashes as written before the review")
    found = dict(re.findall(r"^\| (\S+\.jsonl) \| \d+ \| ([0-9a-f]{64}) \|", path.read_text("utf-8"), flags=re.M))
    if not found:
        raise MergeError(f"{path}: no '| file | rows | sha256 |' rows")
    return found


def plan(staging: Path) -> dict:
    """Everything the merge will do, checked; raises MergeError on the first problem."""
    if not staging.is_dir():
        raise MergeError(f"{staging}: no such staging folder")
    match = re.search(r"(\d+)$", staging.name)
    if match is None:
        raise MergeError(f"{staging}: name the folder macau_batchN")
    batch = match.group(1)
    review = staging / f"REVIEW_BATCH{batch}.md"
    if not review.is_file():
        raise MergeError(f"{review}: missing; an independent review comes before the merge")
    hashes = written_hashes(staging)
    files = sorted(staging.glob("*.jsonl"))
    if sorted(p.name for p in files) != sorted(hashes):
        raise MergeError(f"{staging}/HASHES.md lists {sorted(hashes)} but the folder holds {[p.name for p in files]}")
    for path in [*files, review]:
        if (CORPUS / path.name).exists():
            raise MergeError(f"{CORPUS / path.name}: already exists; rename the staged file")
    patterns_md = (CORPUS / "PATTERNS.md").read_text("utf-8")
    known = set(re.findall(r"^\| (P\d+) \|", patterns_md, flags=re.M))
    patterns, sources, notes = [], [], []
    for path in sorted(staging.glob("sources_*.md")):
        text = path.read_text("utf-8")
        new_patterns = table_rows(section(text, "(a) Patterns", path))
        new_sources = table_rows(section(text, "(b) Sources", path))
        ids = [ROW.match(line).group(1) for line in new_patterns]
        clash = sorted(set(ids) & known)
        if clash:
            raise MergeError(f"{path}: pattern ids {clash} are already in PATTERNS.md")
        unsourced = sorted(set(ids) - {ROW.match(line).group(1) for line in new_sources})
        if unsourced:
            raise MergeError(f"{path}: new pattern ids {unsourced} have no row under '(b) Sources'")
        known |= set(ids)
        patterns += new_patterns
        sources += new_sources
        notes.append((path.name, section(text, "Notes and gaps", path).strip()))
    numbers = sorted(int(line[3 : line.index(" ", 3)]) for line in patterns)
    return {
        "files": files,
        "review": review,
        "hashes": hashes,
        "patterns": patterns,
        "sources": sources,
        "notes": notes,
        "top": numbers[-1] if numbers else None,
    }


def insert_sources(text: str, rows: list[str]) -> str:
    """``SOURCES.md`` with ``rows`` after the last pattern row of its '## Sources' table."""
    start = text.index("\n## Sources\n")
    end = text.index("\n## ", start + 1)
    lines = text[:end].split("\n")
    last = max(i for i, line in enumerate(lines) if ROW.match(line))
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


def apply(staging: Path, merge: dict) -> None:
    patterns_path, sources_path = CORPUS / "PATTERNS.md", CORPUS / "SOURCES.md"
    patterns_md = patterns_path.read_text("utf-8").rstrip("\n") + "\n" + "\n".join(merge["patterns"]) + "\n"
    sources_md = insert_sources(sources_path.read_text("utf-8"), merge["sources"])
    if merge["top"] is not None:
        sources_md = widen_range(sources_md, merge["top"])
    # Stage the folder first: the reviewer's log is usually untracked, and git mv refuses those.
    subprocess.run(["git", "add", "--", str(staging)], cwd=CORPUS, check=True)
    for path in [*merge["files"], merge["review"]]:
        subprocess.run(["git", "mv", str(path), str(CORPUS / path.name)], cwd=CORPUS, check=True)
    patterns_path.write_text(patterns_md, "utf-8")
    sources_path.write_text(sources_md, "utf-8")
    subprocess.run(["git", "rm", "-r", "-q", "--cached", "--ignore-unmatch", str(staging)], cwd=CORPUS, check=True)
    for path in sorted(staging.iterdir()):
        path.unlink()
    staging.rmdir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("staging", type=Path, help="the staging folder, e.g. data/raw/macau_batch14")
    parser.add_argument("--apply", action="store_true", help="merge (default: check and print only)")
    args = parser.parse_args(argv)
    staging = args.staging if args.staging.is_absolute() else ROOT / args.staging
    try:
        merge = plan(staging)
    except MergeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("| file | as written (HASHES.md) | as merged |\n| --- | --- | --- |")
    for path in merge["files"]:
        print(f"| {path.name} | {merge['hashes'][path.name]} | {sha256(path)} |")
    print(f"\n{len(merge['patterns'])} pattern rows and {len(merge['sources'])} source rows to add")
    for name, notes in merge["notes"]:
        print(f"\n### Notes and gaps from {name} (write paraphrases and gap bullets by hand)\n\n{notes}")
    if args.apply:
        try:
            apply(staging, merge)
        except subprocess.CalledProcessError as error:
            print(f"error: {' '.join(error.cmd)} failed (exit {error.returncode}); see git status", file=sys.stderr)
            return 1
        print(f"\nmerged into {CORPUS}; now the datasheet section and scripts/build_corpus.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
