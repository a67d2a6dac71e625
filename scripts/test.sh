#!/usr/bin/env bash
# Install scamclf (not editable) with its test and Dask extras into a virtual environment and run the checks.
# Safe to run twice. VENV picks the environment (default .venv); PYTHON the interpreter to build it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps .
"$VENV/bin/python" -m pip install --quiet ".[test,dask,serve]"
"$VENV/bin/ruff" check src tests scripts benchmarks
"$VENV/bin/ruff" format --check src tests scripts benchmarks
"$VENV/bin/python" scripts/build_corpus.py --check
set +e
"$VENV/bin/python" -m pytest -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$status"
