"""The docs stay true to the code: the CLI reference is regenerated and compared, links resolve."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_matches_the_typer_app(tmp_path):
    typer_exe = Path(sys.executable).with_name("typer")
    if not typer_exe.exists():
        pytest.skip("the typer command is not installed here")
    out = tmp_path / "cli.md"
    args = ["scamclf.cli", "utils", "docs", "--name", "scamclf", "--title", "scamclf command-line reference"]
    subprocess.run(
        [str(typer_exe), *args, "--output", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    committed = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert out.read_text(encoding="utf-8") == committed, (
        "docs/cli.md is out of date: regenerate it with "
        "`typer scamclf.cli utils docs --name scamclf --title 'scamclf command-line reference' --output docs/cli.md`"
    )


@pytest.mark.parametrize("page", ["README.md", "docs/user-guide.md", "docs/model-card.md"])
def test_relative_links_resolve(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    base = (ROOT / page).parent
    for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", text):
        assert (base / target).exists(), f"{page} links to missing {target}"


def test_readme_links_the_docs_and_the_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in (
        "docs/user-guide.md",
        "docs/model-card.md",
        "docs/cli.md",
        "notebooks/1.0-scam-call-exploration.ipynb",
    ):
        assert f"({path})" in readme, f"README does not link {path}"


def test_data_readme_counts_match_the_bundled_corpus():
    # data/README.md's table is kept by hand after each scripts/build_corpus.py run; this keeps it true.
    import pandas as pd

    corpus = pd.read_csv(ROOT / "src" / "scamclf" / "data" / "bundled_corpus.csv.gz", dtype=str, keep_default_na=False)
    counts = corpus.groupby(["source", "label"]).size().unstack(fill_value=0)
    readme = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    total = re.search(r"## Bundled corpus: rows per source, language and label \(([\d,]+) rows\)", readme)
    assert total is not None, (
        "data/README.md lost its '## Bundled corpus: rows per source, language and label (N rows)' heading"
    )
    assert int(total.group(1).replace(",", "")) == len(corpus), "update the row total in data/README.md's heading"
    table = {m[0]: (int(m[1]), int(m[2])) for m in re.findall(r"^\| (\w+) \| [^|]+ \| (\d+) \| (\d+) \|", readme, re.M)}
    actual = {source: (int(row.get("legit", 0)), int(row.get("scam", 0))) for source, row in counts.iterrows()}
    assert table == actual, "update the table in data/README.md from `python scripts/build_corpus.py`"
    types = re.search(r"Rows per scamclf type among bundled scam rows \([\d.]+\): ([^.]+)\.", readme)
    assert types is not None, (
        "data/README.md lost its 'Rows per scamclf type among bundled scam rows (version): ...' line"
    )
    listed = {name: int(n) for name, n in (item.rsplit(" ", 1) for item in types.group(1).split(", "))}
    assert listed == corpus.loc[corpus["label"] == "scam", "scam_type"].value_counts().to_dict(), (
        "update the scam-type counts in data/README.md from the bundled corpus"
    )
