"""Reading and validating transcript files, and writing results atomically."""

from __future__ import annotations

import codecs
import contextlib
import difflib
import gzip
import io
import json
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from .config import LABEL_LEGIT, LABEL_SCAM, SCAM_TYPES, is_blank, normalise_label
from .errors import DataError, OutputExistsError

__all__ = [
    "FORMATS",
    "TableWriter",
    "atomic_write_bytes",
    "check_input_path",
    "check_text_column",
    "detect_format",
    "iter_table_chunks",
    "load_bundled_corpus",
    "mask_label_leaks",
    "normalise_labels",
    "read_table",
    "read_training_data",
    "render_rows",
    "validate_training_frame",
]

FORMATS = ("csv", "tsv", "jsonl", "parquet")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
ENCODING_HINT = "pass --encoding with the file's encoding (for example --encoding latin-1 or cp1252)"
_BUNDLED_CORPUS = "bundled_corpus.csv.gz"
_MIN_TRAINING_ROWS = 20
_MIN_ROWS_PER_CLASS = 5
# Column names and label values longer than this are not quoted in messages: a header-less file
# has a transcript where its header should be, and transcripts are personal data.
_MAX_QUOTED = 32
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip")


def detect_format(path: str | Path, explicit: str | None = None) -> str:
    """Return the table format of ``path`` from ``explicit`` or the file extension.

    >>> detect_format("calls.jsonl"), detect_format("-"), detect_format("x.csv.gz")
    ('jsonl', 'csv', 'csv')
    """
    if explicit:
        fmt = explicit.lower()
        if fmt not in FORMATS:
            raise DataError(f"unknown format {explicit!r}; use one of {', '.join(FORMATS)}")
        return fmt
    if str(path) == "-":
        return "csv"
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in {".gz", ".bz2", ".xz", ".zst", ".zip"}:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _EXTENSIONS:
        return _EXTENSIONS[suffixes[-1]]
    raise DataError(
        f"{path}: cannot tell the format from the extension; use .csv, .tsv, .jsonl or .parquet, "
        "or pass --input-format / --output-format"
    )


def _name(path: str | Path) -> str:
    return "standard input" if str(path) == "-" else str(path)


def _quoted(value: object) -> str:
    """``repr`` of a short value; a long one (a transcript where a name was expected) is not shown."""
    text = str(value)
    if len(text) > _MAX_QUOTED:
        return f"<a {len(text)}-character value>"
    return repr(text) if text else "'' (empty)"


def check_input_path(path: str | Path, *, fmt: str | None = None, encoding: str = "utf-8") -> str:
    """Check that ``path`` can be read as a table before any work is done; return its format.

    Refuses, with a clear message, a missing path, a directory, an unknown format or encoding,
    an empty file, and a binary or UTF-16 file read as UTF-8 text. ``"-"`` is standard input,
    whose first bytes are looked at without consuming them.

    >>> check_input_path("no/such/calls.csv")
    Traceback (most recent call last):
    scamclf.errors.DataError: no/such/calls.csv: no such file; check the path
    """
    if str(path) != "-":
        if not Path(path).exists():
            raise DataError(f"{path}: no such file; check the path")
        if Path(path).is_dir():
            raise DataError(f"{path}: is a directory; give a file (.csv, .tsv, .jsonl or .parquet)")
    fmt = detect_format(path, fmt)
    _read_encoding(encoding)
    if str(path) != "-":
        _check_readable(Path(path), fmt, encoding)
    else:
        _check_stdin(fmt, encoding)
    return fmt


def _is_wide_unicode(encoding: str) -> bool:
    return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))


def _check_head(head: bytes, name: str, fmt: str, encoding: str) -> None:
    """Refuse text input whose first bytes show it is binary or UTF-16/32 read as UTF-8."""
    if fmt == "parquet" or _is_wide_unicode(encoding):
        return
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not head.startswith(codecs.BOM_UTF32_LE):
        raise DataError(f"{name}: looks like UTF-16 text (byte-order mark), not {encoding}; pass --encoding utf-16")
    if b"\x00" in head:
        raise DataError(
            f"{name}: looks like a binary file (NUL bytes), not {fmt.upper()} text; "
            "check the file, or pass --input-format if it is Parquet"
        )


def _check_readable(path: Path, fmt: str, encoding: str) -> None:
    """Refuse an empty file or a binary file with a clear message."""
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty; expected a header row and at least one row")
    if not path.name.lower().endswith(_COMPRESSED):
        with path.open("rb") as handle:
            _check_head(handle.read(8192), str(path), fmt, encoding)


def _decode_error(path: str | Path, exc: UnicodeDecodeError, encoding: str) -> DataError:
    where = _locate_decode_error(path, encoding)
    return DataError(f"{_name(path)}: not valid {encoding} text{where}; {ENCODING_HINT}")


def _locate_decode_error(path: str | Path, encoding: str) -> str:
    """Return ``" (byte 0xe9 at line 3, byte offset 42)"`` for the first undecodable byte, or ``""``.

    The readers decode in blocks, so the offset in their exception is relative to a block;
    this second pass (on the error path only) finds the position in the file.
    """
    if str(path) == "-" or str(path).lower().endswith(_COMPRESSED):
        return ""
    decoder = codecs.getincrementaldecoder(_read_encoding(encoding))()
    offset = 0
    line = 1
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    # Positions in the exception count from the bytes the decoder still held.
                    start = max(exc.start - (len(exc.object) - len(block)), 0)
                    bad = block[start] if start < len(block) else exc.object[exc.start]
                    line += block[:start].count(b"\n")
                    return f" (byte 0x{bad:02x} at line {line}, byte offset {offset + start})"
                offset += len(block)
                line += block.count(b"\n")
    except OSError:
        return ""
    return ""


def _read_encoding(encoding: str) -> str:
    """Accept a UTF-8 byte-order mark whenever UTF-8 is asked for."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError as exc:
        raise DataError(f"unknown encoding {encoding!r}; use a Python codec name such as utf-8") from exc
    return "utf-8-sig" if name in {"utf-8", "utf-8-sig"} else encoding


def _source(path: str | Path) -> Any:
    return sys.stdin.buffer if str(path) == "-" else path


def _check_stdin(fmt: str, encoding: str) -> None:
    """Look at the first bytes of standard input (without consuming them) for a binary file."""
    stdin = sys.stdin.buffer
    head = stdin.peek(8192)[:8192] if hasattr(stdin, "peek") else b""
    if not head and fmt != "parquet":
        raise DataError("standard input is empty; expected a header row and at least one row")
    _check_head(head, "standard input", fmt, encoding)


def iter_table_chunks(
    path: str | Path,
    *,
    fmt: str | None = None,
    chunksize: int = 20_000,
    encoding: str = "utf-8",
) -> Iterator[pd.DataFrame]:
    """Yield a table file in chunks of at most ``chunksize`` rows, every cell kept as read.

    CSV/TSV cells are kept as strings exactly as written (no NA conversion), so what goes in
    comes out. JSONL values keep their JSON type. ``path`` may be ``"-"`` for standard input.

    Raises
    ------
    DataError
        Missing or empty file, header only, ragged rows, malformed JSON line, bad encoding.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"; _ = p.write_text("text\\nhello\\n")
    >>> [len(c) for c in iter_table_chunks(p)]
    [1]
    """
    fmt = check_input_path(path, fmt=fmt, encoding=encoding)
    enc = _read_encoding(encoding)
    if str(path) != "-":
        path = Path(path)
    produced = False
    try:
        if fmt in ("csv", "tsv"):
            chunks = _iter_csv(path, fmt, chunksize, enc)
        elif fmt == "jsonl":
            chunks = _iter_jsonl(path, chunksize, enc)
        else:
            chunks = _iter_parquet(path, chunksize)
        for chunk in chunks:
            produced = True
            yield chunk
    except UnicodeDecodeError as exc:
        raise _decode_error(path, exc, encoding) from exc
    if not produced:
        what = {"jsonl": "has no JSON lines, only blank ones", "parquet": "has no rows"}.get(
            fmt, "has a header but no rows"
        )
        raise DataError(f"{_name(path)}: {what}; nothing to do")


def _iter_csv(path: Any, fmt: str, chunksize: int, encoding: str) -> Iterator[pd.DataFrame]:
    sep = "\t" if fmt == "tsv" else ","
    try:
        with warnings.catch_warnings():
            # index_col=False: a row with more fields than the header is an error, never a
            # silent shift of the first field into the index (which would drop it).
            warnings.simplefilter("error", pd.errors.ParserWarning)
            reader = pd.read_csv(
                _source(path),
                sep=sep,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                chunksize=chunksize,
                encoding=encoding,
                on_bad_lines="error",
                engine="c",
                index_col=False,
            )
            with reader:
                for chunk in reader:
                    if len(chunk):
                        yield chunk
    except pd.errors.ParserWarning as exc:
        raise DataError(
            f"{_name(path)}: malformed {fmt.upper()}: a row has more fields than the header; {_QUOTE_HINT}"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{_name(path)}: the file is empty; expected a header row and rows") from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"{_name(path)}: malformed {fmt.upper()}: {_parser_detail(str(exc))}") from exc


# JSON may spell half of a UTF-16 surrogate pair on its own ("\ud83d"): no character, and no
# output encoding can write it. Such halves become U+FFFD, as a decoder treats invalid bytes.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _without_lone_surrogates(value: Any) -> Any:
    """``value`` with every unpaired surrogate in its strings replaced by U+FFFD.

    >>> _without_lone_surrogates({"text": "ok \\ud83d", "n": 1})
    {'text': 'ok \ufffd', 'n': 1}
    """
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(v) for v in value]
    return value


_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_QUOTE_HINT = "fields holding commas, quotes or newlines must be in double quotes"


def _parser_detail(message: str) -> str:
    """Reword pandas' tokenizer error as what is wrong, where, and the fix."""
    ragged = _RAGGED.search(message)
    if ragged:
        expected, line, saw = ragged.groups()
        return f"line {line} has {saw} fields but the header has {expected}; {_QUOTE_HINT}"
    detail = message.strip().splitlines()[-1].removeprefix("Error tokenizing data. C error: ")
    return f"{detail}; {_QUOTE_HINT}"


def _iter_jsonl(path: Any, chunksize: int, encoding: str) -> Iterator[pd.DataFrame]:
    """Yield JSON Lines in chunks with the keys of the first chunk (missing keys read as null).

    Rows are numbered across chunks (the frame index) so that messages name the right row.
    """
    handle: IO[str]
    # newline="\n": a stray carriage return is JSON whitespace, not the end of a record.
    if str(path) == "-":
        handle = io.TextIOWrapper(sys.stdin.buffer, encoding=encoding, newline="\n")
    elif str(path).lower().endswith(".gz"):
        handle = gzip.open(path, "rt", encoding=encoding, newline="\n")  # noqa: SIM115 - closed below
    else:
        handle = open(path, encoding=encoding, newline="\n")  # noqa: SIM115 - closed below
    name = _name(path)
    columns: list[str] | None = None
    known: set[str] = set()
    start = 0
    with handle:
        rows: list[dict[str, Any]] = []
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{name}: line {number} is not valid JSON ({exc.msg} at character {exc.pos + 1}); "
                    "each line must be one JSON object"
                ) from exc
            if "\\u" in line and _SURROGATE_ESCAPE.search(line):
                row = _without_lone_surrogates(row)
            if not isinstance(row, dict):
                raise DataError(
                    f"{name}: line {number} is a JSON {type(row).__name__}, expected an object "
                    'such as {"text": "..."}'
                )
            if columns is not None and not known.issuperset(row):
                extra = ", ".join(_quoted(k) for k in row if k not in known)
                raise DataError(
                    f"{name}: line {number} has key(s) {extra} that the first {start} rows lack; "
                    "output columns are fixed by the first rows, so give the first line every key "
                    "(null where there is no value)"
                )
            rows.append(row)
            if len(rows) >= chunksize:
                chunk = _records_frame(rows, columns, start)
                columns, known, start = list(chunk.columns), set(chunk.columns), start + len(chunk)
                yield chunk
                rows = []
        if rows:
            yield _records_frame(rows, columns, start)


def _records_frame(rows: list[dict[str, Any]], columns: list[str] | None, start: int) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=columns)
    frame.index = pd.RangeIndex(start, start + len(frame))
    for column in frame.columns:
        values = frame[column]
        if values.isna().all():
            # A key missing from every line of this chunk is null, not a float NaN column.
            frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        # JSON integers with a missing value would turn float (1 -> 1.0) and change type between chunks.
        elif values.dtype == np.float64 and values.isna().any():
            present = values.dropna()
            if len(present) and (present == present.round()).all() and present.abs().max() < 2**53:
                frame[column] = values.astype("Int64")
    return frame


def _iter_parquet(path: Any, chunksize: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(pa.BufferReader(sys.stdin.buffer.read()) if str(path) == "-" else path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{_name(path)}: not a readable Parquet file ({exc}); check the file") from exc
    start = 0
    for batch in parquet.iter_batches(batch_size=chunksize):
        if batch.num_rows:
            frame = batch.to_pandas()
            frame.index = pd.RangeIndex(start, start + len(frame))
            start += len(frame)
            yield frame


def read_table(path: str | Path, *, fmt: str | None = None, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a whole table file (see :func:`iter_table_chunks` for formats and errors)."""
    return pd.concat(list(iter_table_chunks(path, fmt=fmt, encoding=encoding)), ignore_index=True)


def check_text_column(frame: pd.DataFrame, text_col: str, path: str | Path) -> None:
    """Raise a :class:`DataError` naming close matches when ``text_col`` is missing or not text."""
    name = _name(path)
    if text_col not in frame.columns:
        columns = [str(c) for c in frame.columns]
        names = [c for c in columns if len(c) <= _MAX_QUOTED]
        close = difflib.get_close_matches(text_col, names, n=3, cutoff=0.4)
        lowered = {c.lower(): c for c in names}
        for guess in ("text", "transcript", "message", "content", "utterance", "sms"):
            if guess in lowered and lowered[guess] not in close:
                close.append(lowered[guess])
        shown = ", ".join(c if len(c) <= _MAX_QUOTED else _quoted(c) for c in columns[:12])
        if close:
            hint = f"; did you mean --text-col {close[0]}?"
        elif len(names) < len(columns):
            hint = "; the first line looks like data, not a header: add a header row naming the columns"
        else:
            hint = "; pass --text-col with the transcript column"
        raise DataError(f"{name}: no column {text_col!r} (columns: {shown}){hint}")
    column = frame[text_col]
    if column.dtype != object and not pd.api.types.is_string_dtype(column):
        raise DataError(
            f"{name}: column {text_col!r} holds {column.dtype} values, not text; "
            "pass --text-col with the transcript column"
        )
    bad = np.fromiter(
        (v is not None and not isinstance(v, str) and v == v for v in column.to_numpy(dtype=object)),
        dtype=bool,
        count=len(column),
    )
    if bad.any():
        position = int(bad.argmax())
        label = frame.index[position]
        row = int(label) + 1 if isinstance(label, (int, np.integer)) else position + 1
        raise DataError(
            f"{name}: column {text_col!r} row {row} holds a {type(column.iloc[position]).__name__}, "
            "not text; transcripts must be strings"
        )


# --- training data -------------------------------------------------------------------------------

# Label leaks documented in shared/data/README.md: words that give the label away inside one
# corpus, masked so the model cannot learn them instead of the fraud.
_LEAK_PATTERNS: dict[str, str] = {
    # Victims' turns in the generated dialogues often name the fraud outright.
    "teleantifraud_ma": r"诈骗犯|诈骗|骗子|骗局|反诈",
    # Placeholders and the SMS opt-out word occur only in legit rows.
    "telecom_fraud_texts5": r"DIGIT|NAME|退订|回复TD|回T退订|拒收请回复R",
}


def mask_label_leaks(frame: pd.DataFrame, *, text_col: str = "text", source_col: str = "source") -> pd.DataFrame:
    """Return a copy of ``frame`` with known per-source label leaks removed from the text."""
    if source_col not in frame.columns:
        return frame
    out = frame.copy()
    for source, pattern in _LEAK_PATTERNS.items():
        rows = out[source_col] == source
        if rows.any():
            out.loc[rows, text_col] = out.loc[rows, text_col].str.replace(pattern, " ", regex=True)
    return out


def read_training_data(
    paths: list[str | Path],
    *,
    text_col: str = "text",
    label_col: str = "label",
    encoding: str = "utf-8",
    validate: bool = True,
) -> pd.DataFrame:
    """Read labelled transcripts from files into a frame with ``text``, ``label``, ``source``.

    Labels are normalised (scam/legit, 1/0, true/false, fraud/normal, spam/ham, any case).
    Optional columns ``source``, ``lang`` and ``scam_type`` are kept; ``source`` defaults to the
    file name. Rows with an empty transcript are dropped (they carry no evidence).

    Raises
    ------
    DataError
        Unknown label values (listed), a missing column, one class only or too few rows.
    """
    frames = []
    for path in paths:
        frame = read_table(path, encoding=encoding)
        check_text_column(frame, text_col, path)
        if label_col not in frame.columns:
            names = [str(c) for c in frame.columns if len(str(c)) <= _MAX_QUOTED]
            close = difflib.get_close_matches(label_col, names, n=1)
            hint = f"; did you mean --label-col {close[0]}?" if close else ""
            raise DataError(f"{path}: no label column {label_col!r}{hint}")
        frames.append(
            labelled_frame(frame, text_col=text_col, label_col=label_col, where=str(path), source=Path(str(path)).stem)
        )
    data = pd.concat(frames, ignore_index=True)
    data = data[~data["text"].map(is_blank)].reset_index(drop=True)
    if validate:
        validate_training_frame(data, where=", ".join(str(p) for p in paths))
    return data


def labelled_frame(frame: pd.DataFrame, *, text_col: str, label_col: str, where: str, source: str) -> pd.DataFrame:
    """Return ``frame`` as scamclf's training columns: text, label (normalised), source, lang, scam_type.

    ``source`` fills the source of rows when the frame has no ``source`` column.
    """
    labels = normalise_labels(frame[label_col], where=where, label_col=label_col)

    def optional(column: str, default: str) -> Any:
        return frame[column].fillna("").astype(str) if column in frame else default

    return pd.DataFrame(
        {
            "text": frame[text_col].fillna("").astype(str),
            "label": labels,
            "source": optional("source", source),
            "lang": optional("lang", ""),
            "scam_type": optional("scam_type", ""),
        }
    )


def normalise_labels(values: pd.Series, *, where: str, label_col: str = "label") -> pd.Series:
    """Map raw labels to scam/legit, or raise a :class:`DataError` listing the unknown values."""
    labels = values.map(normalise_label)
    unknown = sorted({_label_text(v) for v, n in zip(values, labels, strict=True) if not isinstance(n, str)})
    if unknown:
        more = f" and {len(unknown) - 8} more" if len(unknown) > 8 else ""
        shown = ", ".join(_quoted(v) for v in unknown[:8]) + more
        rows = int(labels.map(lambda n: not isinstance(n, str)).sum())
        raise DataError(
            f"{where}: column {label_col!r} has unknown label values {shown} ({rows} rows); "
            "use scam/legit (or 1/0, true/false, fraud/normal, spam/ham)"
        )
    return labels


def _label_text(value: object) -> str:
    missing = value is None or value is pd.NA or (isinstance(value, float) and value != value)
    return "" if missing else str(value)


def validate_training_frame(data: pd.DataFrame, *, where: str = "training data") -> None:
    """Refuse training data with one class only or too few rows, saying what is needed."""
    counts = data["label"].value_counts()
    if len(data) < _MIN_TRAINING_ROWS:
        raise DataError(f"{where}: only {len(data)} non-empty rows; training needs at least {_MIN_TRAINING_ROWS}")
    for label in (LABEL_SCAM, LABEL_LEGIT):
        if counts.get(label, 0) == 0:
            raise DataError(
                f"{where}: no {label!r} rows, only {counts.index[0]!r}; training needs both classes "
                "(add --with-bundled to mix in the bundled corpus)"
            )
        if counts.get(label, 0) < _MIN_ROWS_PER_CLASS:
            raise DataError(
                f"{where}: only {counts[label]} {label!r} rows; training needs at least "
                f"{_MIN_ROWS_PER_CLASS} of each class"
            )


def load_bundled_corpus() -> pd.DataFrame:
    """Return the corpus that ships inside the package (see ``data/README.md`` for provenance).

    Columns: ``text``, ``label``, ``source``, ``lang``, ``scam_type`` (taxonomy ids).
    """
    resource = resources.files("scamclf") / "data" / _BUNDLED_CORPUS
    with resource.open("rb") as raw:
        frame = pd.read_csv(raw, compression="gzip", dtype=str, keep_default_na=False)
    unknown = set(frame["scam_type"]) - set(SCAM_TYPES) - {""}
    if unknown:  # pragma: no cover - guarded by the corpus build script and a test
        raise DataError(f"bundled corpus has unknown scam types {sorted(unknown)}")
    return frame


# --- writing -------------------------------------------------------------------------------------


def _refuse_existing(path: Path, force: bool, what: str = "output") -> None:
    if path.exists() and not force:
        raise OutputExistsError(f"{path}: {what} file exists; pass --force to replace it")
    if path.exists() and path.is_dir():
        raise OutputExistsError(f"{path}: is a directory; give a file path for the {what}")


def atomic_write_bytes(path: str | Path, data: bytes, *, force: bool = False, what: str = "output") -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and rename it.

    The target is either the complete new content or untouched; with ``force=False`` an existing
    file is refused (checked again just before the rename, so concurrent writers never clobber).
    """
    path = Path(path)
    _refuse_existing(path, force, what)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = stage_bytes(path, data)
    try:
        _commit(tmp, path, force, what)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def stage_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a new temporary file beside ``path`` and return it; ``path`` is not touched.

    The file is flushed to disk and has the mode a plain ``open()`` would give, so that renaming it
    over ``path`` (the caller's step: :func:`atomic_write_bytes`, or several files renamed together)
    leaves a complete, ordinary file. On failure nothing is left behind.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, _umask_mode())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return Path(tmp_name)


def _umask_mode() -> int:
    """The mode a plain ``open()`` would give a new file (mkstemp's 0600 is too private)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _commit(tmp: Path, path: Path, force: bool, what: str) -> None:
    os.chmod(tmp, _umask_mode())
    if force:
        os.replace(tmp, path)
        return
    try:
        # A hard link fails if the target appeared meanwhile: no race can clobber it.
        os.link(tmp, path)
    except FileExistsError as exc:
        raise OutputExistsError(f"{path}: {what} file exists; pass --force to replace it") from exc
    except OSError:
        if path.exists():
            raise OutputExistsError(f"{path}: {what} file exists; pass --force to replace it") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


_PARQUET_TYPES_HINT = "Parquet needs one type per column: write .csv or .jsonl output instead"


def _arrow_column(exc: Exception) -> str:
    """Arrow's conversion message names the column after 'column'; keep only that part."""
    found = re.search(r"[Cc]onversion failed for column (.+?) with type (\w+)", str(exc))
    if found:
        return f"column {found.group(1)!r} mixes types (seen as {found.group(2)})"
    return "a column mixes types"


def render_rows(frame: pd.DataFrame, fmt: str) -> tuple[str, str]:
    """Return the header and the rows of ``frame`` as ``fmt`` text (csv, tsv or jsonl).

    >>> render_rows(pd.DataFrame({"a": [1], "b": ["x,y"]}), "csv")
    ('a,b\\n', '1,"x,y"\\n')
    """
    if fmt == "jsonl":
        text = frame.to_json(orient="records", lines=True, force_ascii=False)
        return "", text if not text or text.endswith("\n") else text + "\n"
    if fmt not in ("csv", "tsv"):
        raise ValueError(f"cannot render {fmt} as text")
    sep = "\t" if fmt == "tsv" else ","
    header = frame.iloc[:0].to_csv(sep=sep, index=False, lineterminator="\n")
    return header, frame.to_csv(sep=sep, index=False, header=False, lineterminator="\n")


class TableWriter:
    """Write a table in chunks to a file (atomically, on :meth:`commit`) or to standard output.

    Use as a context manager: leaving the block without :meth:`commit` (an error, an interrupt)
    removes the temporary file and leaves any existing target untouched.
    """

    def __init__(self, path: str | Path | None, *, fmt: str | None = None, force: bool = False) -> None:
        self.to_stdout = path is None or str(path) == "-"
        self.path = None if self.to_stdout else Path(path)  # type: ignore[arg-type]
        self.fmt = "csv" if self.to_stdout and fmt is None else detect_format(path or "-", fmt)
        self.force = force
        self._tmp: Path | None = None
        self._handle: Any = None
        self._parquet: Any = None
        self._wrote_header = False
        self._rows = 0
        if self.path is not None:
            _refuse_existing(self.path, force)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            os.close(fd)
            self._tmp = Path(name)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` (same columns every call)."""
        if self.fmt == "parquet":
            self._write_parquet(frame)
            return
        self.write_rendered(*render_rows(frame, self.fmt))

    def write_rendered(self, header: str, body: str) -> None:
        """Append rows already rendered by :func:`render_rows` (CSV, TSV or JSONL).

        The header is written once, with the first rows. Rendering is the costly part of
        writing text, so worker processes can do it and the writer only appends.
        """
        if self.fmt == "parquet":
            raise ValueError("Parquet output takes frames: use write()")
        if self._handle is None:
            if self.to_stdout:
                self._handle = sys.stdout
            else:
                self._handle = open(self._tmp, "w", encoding="utf-8", newline="")  # type: ignore[arg-type]  # noqa: SIM115
        if not self._wrote_header:
            self._handle.write(header)
            self._wrote_header = True
        self._handle.write(body)
        if self.to_stdout:
            self._handle.flush()

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.to_stdout:
            raise DataError("Parquet cannot be written to standard output; give --output-path")
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise DataError(f"cannot write Parquet: {_arrow_column(exc)}; {_PARQUET_TYPES_HINT}") from exc
        if self._parquet is None:
            # A column that is all null in the first chunk has no type yet; text is the likeliest.
            schema = pa.schema(
                [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema],
                metadata=table.schema.metadata,
            )
            self._parquet = pq.ParquetWriter(self._tmp, schema)
        try:
            table = table.cast(self._parquet.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError) as exc:
            changed = [
                f"{f.name!r} ({f.type} then {table.schema.field(f.name).type})"
                for f in self._parquet.schema
                if f.name in table.schema.names and table.schema.field(f.name).type != f.type
            ]
            detail = "column " + ", ".join(changed[:3]) if changed else "the columns changed"
            raise DataError(
                f"cannot write Parquet: {detail} changes type after row {self._rows}; {_PARQUET_TYPES_HINT}"
            ) from exc
        self._parquet.write_table(table)
        self._rows += len(frame)

    def commit(self) -> None:
        """Finish the file and rename it into place."""
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._handle is not None and not self.to_stdout:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None
        if self._tmp is not None and self.path is not None:
            _commit(self._tmp, self.path, self.force, "output")
            self._tmp = None

    def close(self) -> None:
        """Drop an uncommitted temporary file."""
        if self._parquet is not None:
            with contextlib.suppress(Exception):
                self._parquet.close()
        if self._handle is not None and not self.to_stdout:
            self._handle.close()
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
            self._tmp = None
