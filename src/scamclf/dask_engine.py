"""Score on a Dask cluster: the same model, the same rows, the same results as the local engine.

Needs the optional extra ``scamclf[dask]`` (``dask[dataframe]`` and ``distributed``). The model
is loaded and verified once, by the caller, and broadcast to every worker once
(``Client.scatter``); each partition is scored with :meth:`ScamModel.score_frame`, exactly as
the local engine scores a chunk. Parquet is split by row group. A CSV, TSV or JSON Lines file is
one partition, read by the local engine's own reader (same parsing, same error messages): a
quoted transcript may hold newlines, so such a file cannot be split safely at byte offsets. For
large inputs, use Parquet or many files.

Output is a directory of part files (``part-00000.parquet`` ...), written to a temporary
directory beside the target and renamed into place, so a failed run leaves nothing half-written
where the output should be.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from .config import UNFAMILIAR_NOTE_START
from .dataset import check_input_path, iter_table_chunks
from .errors import DataError, OutputExistsError, ScamclfError
from .parallel import available_cpus

__all__ = ["expand_inputs", "score_dask_frame", "score_files_dask"]

# The scheduler of a cluster this module starts serves its diagnostic dashboard on loopback and a free port:
# ``dashboard_address=None`` does not turn it off but falls back to the configured ":8787" on every interface
# (distributed 2026.8), which would show any machine on the network the tasks of a scoring run.
LOCAL_DASHBOARD_ADDRESS = "127.0.0.1:0"

_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".pq", ".csv.gz", ".tsv.gz", ".jsonl.gz")


def _dask() -> tuple[Any, Any]:
    try:
        import dask
        import dask.dataframe as dd
    except ImportError as exc:
        raise DataError("--engine dask needs Dask: pip install 'scamclf[dask]'") from exc
    return dask, dd


def expand_inputs(spec: str | Path) -> list[str]:
    """The input files named by ``spec``: a file, a directory (its table files) or a glob."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.is_file() and p.name.lower().endswith(_EXTENSIONS))
        if not files:
            raise DataError(f"{spec}: directory holds no CSV, TSV, JSONL or Parquet files")
        return files
    if path.is_file():
        return [str(path)]
    files = sorted(glob.glob(str(spec)))
    if not files:
        raise DataError(f"{spec}: no such file, directory or matching files")
    return files


def _read_whole(path: str, fmt: str, encoding: str) -> pd.DataFrame:
    return pd.concat(list(iter_table_chunks(path, fmt=fmt, encoding=encoding)), ignore_index=True)


def read_dask(files: list[str], *, fmt: str | None = None, encoding: str = "utf-8") -> Any:
    """A Dask DataFrame of ``files`` (all of one format), parsed as the local engine parses them."""
    _, dd = _dask()
    formats = {check_input_path(f, fmt=fmt, encoding=encoding) for f in files}
    if len(formats) > 1:
        raise DataError(f"input mixes formats ({', '.join(sorted(formats))}); score each format separately")
    kind = formats.pop()
    if kind == "parquet":
        return dd.read_parquet(files, split_row_groups=True)
    return dd.from_map(_read_whole, files, fmt=kind, encoding=encoding)


def _score_partition(part: pd.DataFrame, model: Any, options: dict[str, Any]) -> pd.DataFrame:
    return model.score_frame(part, **options)


def score_dask_frame(
    model: Any,
    frame: Any,
    *,
    text_col: str = "text",
    threshold: float | None = None,
    evidence: bool | str = "flagged",
    redact: bool = False,
    overwrite_columns: bool = False,
    source: str = "input",
    model_ref: Any = None,
) -> Any:
    """Score a ``dask.dataframe.DataFrame``; return one with the columns of ``scamclf score``.

    ``evidence`` picks the rows explained, as in ``ScamModel.score_texts`` (default: scam and
    suspicious rows).

    ``model_ref`` is what the tasks receive as the model: by default ``dask.delayed(model)`` (one
    copy in the graph); :func:`score_files_dask` passes a future broadcast to every worker.
    """
    dask, _ = _dask()
    options = {
        "text_col": text_col,
        "threshold": threshold,
        "evidence": evidence,
        "redact": redact,
        "overwrite_columns": overwrite_columns,
        "source": source,
    }
    meta = _score_partition(frame._meta.copy(), model, options)  # checks the columns, on no rows
    ref = dask.delayed(model) if model_ref is None else model_ref
    return frame.map_partitions(_score_partition, ref, options, meta=meta)


def score_files_dask(
    model: Any,
    input_spec: str | Path,
    output_dir: str | Path,
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    text_col: str = "text",
    input_format: str | None = None,
    output_format: str = "parquet",
    threshold: float | None = None,
    evidence: bool | str = "flagged",
    redact: bool = False,
    overwrite_columns: bool = False,
    encoding: str = "utf-8",
    force: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Score files on a Dask cluster into a directory of part files; return a summary.

    Without ``scheduler`` a local cluster of ``n_workers`` processes (default: one per CPU) runs
    for the call; with it, the work goes to that scheduler (workers must reach the input and
    output paths, e.g. on shared storage).
    """
    dask, dd = _dask()
    from distributed import Client, LocalCluster

    output_format = check_output_spec(output_dir, output_format)
    target = Path(output_dir)
    if target.exists() and not force:
        raise OutputExistsError(f"{target}: output exists; pass --force to replace it")
    if target.exists() and not target.is_dir():
        raise DataError(f"{target}: the Dask engine writes a directory of part files; give a directory path")
    files = expand_inputs(input_spec)
    with contextlib.ExitStack() as stack:  # unwinds: staging removed, client and cluster closed, config restored
        # Text stays Python strings, as the local engine reads it, so that both write the same files.
        stack.enter_context(dask.config.set({"dataframe.convert-string": False}))
        frame = read_dask(files, fmt=input_format, encoding=encoding)
        if scheduler is None:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=n_workers or available_cpus(),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=LOCAL_DASHBOARD_ADDRESS,
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except (OSError, TimeoutError) as exc:
                raise DataError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
        stack.callback(shutil.rmtree, staging, ignore_errors=True)
        # A fresh key per run: scattered under its content hash, the same model scored twice in a
        # row on one cluster can meet its previous copy while the scheduler is forgetting it, and
        # the run fails with "lost dependencies" (dask/distributed#8576).
        ref = dask.delayed(client.scatter(model, broadcast=True, hash=False))
        scored = score_dask_frame(
            model,
            frame,
            text_col=text_col,
            threshold=threshold,
            evidence=evidence,
            redact=redact,
            overwrite_columns=overwrite_columns,
            source=str(input_spec),
            model_ref=ref,
        )
        name = (lambda i: f"part-{i:05d}.parquet") if output_format == "parquet" else (lambda i: f"{i:05d}")
        if output_format == "parquet":
            import pyarrow as pa

            # Text columns are strings (Dask cannot infer that from a frame with no rows); other
            # columns take the Arrow type of their pandas dtype, as the local engine's writer does.
            empty = pa.Table.from_pandas(scored._meta, preserve_index=False).schema
            schema = pa.schema(
                [
                    (str(c), pa.string() if pd.api.types.is_string_dtype(kind) else empty.field(str(c)).type)
                    for c, kind in scored._meta.dtypes.items()
                ]
            )
            writing = scored.to_parquet(
                str(staging), name_function=name, write_index=False, schema=schema, compute=False
            )
        else:
            staging.mkdir(parents=True)
            writing = scored.to_csv(str(staging / "part-*.csv"), name_function=name, index=False, compute=False)
        futures = client.compute(writing)  # one future (Parquet) or one per part (CSV)
        if progress:
            from distributed import progress as show_progress

            show_progress(futures)
            sys.stderr.write("\n")
        try:
            client.gather(futures)
        except ScamclfError:
            raise
        except Exception as exc:
            raise _explain(exc, files, input_format, encoding) from None
        counts = _verdict_counts(dd, staging, output_format)
        _commit(staging, target)
        rows = sum(counts[v] for v in ("scam", "suspicious", "legit", "not_scored"))
        return {"rows": int(rows), "partitions": frame.npartitions, **counts}


def _verdict_counts(dd: Any, staging: Path, output_format: str) -> dict[str, int]:
    columns = ["verdict", "note"]
    if output_format == "parquet":
        frame = dd.read_parquet(str(staging), columns=columns)
    else:
        frame = dd.read_csv(str(staging / "part-*.csv"), usecols=columns, dtype=str, keep_default_na=False)
    counts, unfamiliar = dd.compute(
        frame["verdict"].value_counts(),
        frame["note"].fillna("").astype(str).str.contains(UNFAMILIAR_NOTE_START, regex=False).sum(),
    )
    out = {v: int(counts.get(v, 0)) for v in ("scam", "suspicious", "legit")}
    out["not_scored"] = int(counts.get("", 0))
    out["unfamiliar"] = int(unfamiliar)
    return out


def _explain(exc: Exception, files: list[str], fmt: str | None, encoding: str) -> ScamclfError:
    """A worker failed reading the input: find the file and say what is wrong, in one line."""
    for path in files:
        try:
            for _ in iter_table_chunks(path, fmt=fmt, encoding=encoding, chunksize=50_000):
                pass
        except ScamclfError as found:
            return found
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(f"{files[0] if len(files) == 1 else 'input'}: a worker failed: {first}")


def _commit(staging: Path, target: Path) -> None:
    """Put the finished output in place; an output being replaced is removed only after."""
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.old"
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def check_output_spec(output_dir: str | Path | None, output_format: str | None) -> str:
    """Validate the Dask engine's output arguments early; return the output format."""
    if not output_dir or str(output_dir) == "-":
        raise DataError("--engine dask writes a directory of part files: give --output-path DIR")
    fmt = output_format or "parquet"
    if fmt not in ("parquet", "csv"):
        raise DataError(f"--output-format {fmt!r}: the Dask engine writes parquet or csv part files")
    return fmt
