"""Apply an edit pass to rows of the Macau corpus: new text for existing rows, nothing else.

An edit pass (batch 17 was the first) rewrites the text of rows already in ``data/raw/macau/``:
no row is added or removed and no other field changes. The edits come as one or more JSON-lines
files, each line ``{"id": ..., "text": ...}``. The script

1. refuses, before anything is written: an id not in the corpus or listed twice, a line with other
   keys, an empty text, a speaker label (``A:``, ``caller:``, ``客服：``), a bracket or a Unicode line
   separator (U+2028, U+2029, U+0085: readers that split on them would break the row) in the new
   text, and an edit that leaves the text as it was;
2. rewrites only the changed lines of each affected file (every other line stays byte for byte):
   every new file is written to a temporary file beside it first, and only when all of them are
   written are they renamed over the old ones (a failure before that leaves every file as it was);
3. prints, for the datasheet, every affected file with its rows changed and both sha256 hashes.

Without ``--apply`` it only checks and prints the hashes the files would have. Run from anywhere:

    python scripts/edit_macau_rows.py edits_en.jsonl edits_zh.jsonl [--apply]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from pathlib import Path

from scamclf.dataset import stage_bytes

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "data" / "raw" / "macau"
SPEAKER = re.compile(r"(?im)^(?:[AB]|caller|callee|agent|customer|客服|坐席|来电人|來電人)\s*[:：]")
LINE_SEPARATORS = re.compile("[\u2028\u2029\u0085]")


class EditError(Exception):
    """Edits that cannot be applied as they stand."""


def read_edits(paths: list[Path]) -> dict[str, str]:
    """The new text of every edited row, by id, checked line by line."""
    edits: dict[str, str] = {}
    for path in paths:
        # JSON lines end at "\n" only: str.splitlines would also split at U+2028 inside a string.
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            if not line.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise EditError(f"{where}: not JSON ({error.msg}); one object per line") from None
            if not isinstance(row, dict) or set(row) != {"id", "text"}:
                raise EditError(f"{where}: an edit holds exactly the keys id and text")
            if not isinstance(row["id"], str) or not row["id"]:
                raise EditError(f"{where}: the id must be a non-empty string, got {row['id']!r}")
            if not isinstance(row["text"], str) or not row["text"].strip():
                raise EditError(f"{where}: empty text for {row['id']!r}")
            if SPEAKER.search(row["text"]) or re.search(r"[\[\]]", row["text"]):
                raise EditError(f"{where}: {row['id']}: speaker label or bracket in the new text")
            if LINE_SEPARATORS.search(row["text"]):
                raise EditError(f"{where}: {row['id']}: U+2028, U+2029 or U+0085 in the text; separate turns with \\n")
            if row["id"] in edits:
                raise EditError(f"{where}: {row['id']} is edited twice")
            edits[row["id"]] = row["text"]
    return edits


def plan(edits: dict[str, str], corpus: Path | None = None) -> dict[Path, tuple[bytes, int, str]]:
    """The new bytes of every file an edit touches, the number of rows changed and the old sha256."""
    corpus = CORPUS if corpus is None else corpus
    left = dict(edits)
    changed: dict[Path, tuple[bytes, int, str]] = {}
    for path in sorted(corpus.glob("*.jsonl")):
        old = path.read_bytes()
        lines = old.split(b"\n")
        count = 0
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise EditError(f"{path.name} line {i + 1}: not a JSON object; fix the corpus file first") from None
            if row["id"] not in left:
                continue
            text = left.pop(row["id"])
            if text == row["text"]:
                raise EditError(f"{row['id']} ({path.name}): the edit leaves the text as it was")
            row["text"] = text
            lines[i] = json.dumps(row, ensure_ascii=False).encode("utf-8")
            count += 1
        if count:
            changed[path] = (b"\n".join(lines), count, hashlib.sha256(old).hexdigest())
    if left:
        raise EditError(f"ids not in {corpus}: {sorted(left)[:10]}{' ...' if len(left) > 10 else ''}")
    return changed


def write_all(contents: dict[Path, bytes]) -> None:
    """Stage every file's new bytes beside it (:func:`scamclf.dataset.stage_bytes`), then rename them all into place.

    A failure while staging removes the temporary files and leaves every target as it was; a failure
    between two renames (rare: same folder, same file system) names the files already replaced.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in contents.items():
            staged.append((stage_bytes(path, data), path))
    except OSError as error:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise EditError(f"writing the new files failed ({error}); no corpus file was changed") from None
    done: list[str] = []
    for tmp, path in staged:
        try:
            os.replace(tmp, path)
        except OSError as error:
            for left, _ in staged[len(done) :]:
                left.unlink(missing_ok=True)
            raise EditError(f"renaming into {path.name} failed ({error}); already replaced: {done or 'none'}") from None
        done.append(path.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("edits", type=Path, nargs="+", help="JSON-lines files of {id, text}")
    parser.add_argument("--apply", action="store_true", help="write the files (default: check and print only)")
    args = parser.parse_args(argv)
    try:
        changed = plan(read_edits(args.edits))
    except (EditError, OSError, UnicodeDecodeError) as error:  # one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("| file | rows changed | sha256 before | sha256 after |\n| --- | --- | --- | --- |")
    for path, (data, count, before) in changed.items():
        print(f"| `{path.name}` | {count} | {before} | {hashlib.sha256(data).hexdigest()} |")
    if args.apply:
        try:
            write_all({path: data for path, (data, _, _) in changed.items()})
        except EditError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"\n{sum(c for _, c, _ in changed.values())} rows rewritten in {len(changed)} files.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
