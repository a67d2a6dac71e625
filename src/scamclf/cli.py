"""The ``scamclf`` command line: a thin Typer shell over :mod:`scamclf.api`."""

from __future__ import annotations

import contextlib
import enum
import json
import os
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from .config import FIT_TOL, THRESHOLD_SMOOTHING

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    # Plain help and usage errors: rendering them with rich imports ~0.3 s of modules (markdown
    # parser included) before `scamclf --help` can print a line. Progress bars still use rich.
    rich_markup_mode=None,
    help="Flag scam phone calls from their transcripts, and say why.",
)

_state = {"debug": False, "streaming": False, "signal": 0}


class _Terminated(BaseException):
    """SIGTERM arrived: unwind (removing temporary files) and exit 143.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way swallows it.
    """


def _on_sigterm(signum: int, frame: Any) -> None:
    _state["signal"] = signum
    raise _Terminated


def _on_sigint(signum: int, frame: Any) -> None:
    _state["signal"] = signum
    raise KeyboardInterrupt


def _stopped(what: str) -> str:
    if _state["streaming"]:
        return f"{what}; the output on standard output is incomplete."
    return f"{what}; nothing was written."


def _err(message: str) -> None:
    typer.echo(message, err=True)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn library errors into one line on stderr and exit 1 (tracebacks only with --debug)."""
    from .errors import ScamclfError

    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.showwarning = lambda message, category, *a, **k: _err(f"Warning: {message}")
            yield
    except ScamclfError as exc:
        if _state["debug"]:
            raise
        _err(f"Error: {exc}")
        raise typer.Exit(code=1) from None
    except KeyboardInterrupt:
        _err(_stopped("Interrupted"))
        raise typer.Exit(code=130) from None
    except _Terminated:
        _err(_stopped("Terminated"))
        raise typer.Exit(code=143) from None
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        raise typer.Exit(code=1) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if _state["debug"]:
            raise
        _err(f"Error: internal error ({type(exc).__name__}); rerun with --debug for the traceback and report it")
        raise typer.Exit(code=1) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _progress(label: str, *, auto_refresh: bool = True) -> Any:
    """A row counter on a terminal; a no-op when stderr is piped.

    Without ``auto_refresh`` no display thread runs (the caller refreshes as it advances), so
    worker processes can be forked safely.
    """
    if not sys.stderr.isatty():
        return contextlib.nullcontext(None)
    from rich.console import Console
    from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn(label),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        auto_refresh=auto_refresh,
    )


def _notify(message: str) -> None:
    _err(message)


class Evidence(str, enum.Enum):
    """Which rows ``score`` explains."""

    flagged = "flagged"
    all = "all"
    none = "none"


class Engine(str, enum.Enum):
    """Where ``score`` runs."""

    local = "local"
    dask = "dask"


ModelPath = Annotated[
    Path | None,
    typer.Option(
        "--model-path", help="Model file (default: $SCAMCLF_MODEL, ./models/scamclf.joblib, or the per-user model)."
    ),
]
TextCol = Annotated[str, typer.Option("--text-col", help="Column holding the transcript.")]
Encoding = Annotated[
    str, typer.Option("--encoding", help="Text encoding of the input (UTF-8 with or without BOM by default).")
]
Threshold = Annotated[
    float | None,
    typer.Option(
        "--threshold", min=0.0, max=1.0, help="Scam threshold (default: the model's, chosen on held-out data)."
    ),
]

NoEvidence = Annotated[bool, typer.Option("--no-evidence", help="Same as --evidence none.")]


def _evidence_mode(evidence: Evidence, no_evidence: bool) -> str:
    """The library's evidence mode for ``--evidence`` and ``--no-evidence`` (which must agree)."""
    if not no_evidence:
        return evidence.value
    if evidence is not Evidence.flagged:  # flagged is the default: it cannot contradict
        from .errors import DataError

        raise DataError(f"--no-evidence contradicts --evidence {evidence.value}; give one of them")
    return "none"


Redact = Annotated[
    bool,
    typer.Option(
        "--redact",
        help="Mask phone, ID, card and account numbers and e-mail addresses in the output (scores use the full text).",
    ),
]


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks (and transcript text) in errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True)] = False,
) -> None:
    """Flag scam phone calls from their transcripts, and say why."""
    _state["debug"] = debug
    _state["streaming"] = False
    if version:
        from ._version import __version__

        typer.echo(f"scamclf {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


@app.command()
def train(
    data_paths: Annotated[
        list[str] | None,
        typer.Argument(help="CSV/TSV/JSONL/Parquet files with text and label columns; none: the bundled corpus."),
    ] = None,
    model_path: ModelPath = None,
    text_col: TextCol = "text",
    label_col: Annotated[
        str, typer.Option("--label-col", help="Column holding the label (scam/legit, 1/0, ...).")
    ] = "label",
    with_bundled: Annotated[
        bool, typer.Option("--with-bundled", help="Add the bundled corpus to the given files.")
    ] = False,
    miss_cost: Annotated[
        float, typer.Option("--miss-cost", min=0.01, help="Cost of a missed scam in false alarms (sets the threshold).")
    ] = 1.0,
    suspicious_recall: Annotated[
        float,
        typer.Option(
            "--suspicious-recall", min=0.01, max=1.0, help="Held-out recall target of the 'suspicious' threshold."
        ),
    ] = 0.95,
    threshold_smoothing: Annotated[
        float,
        typer.Option(
            "--threshold-smoothing",
            min=0.0,
            max=0.5,
            help="Half-width of the average taken over the held-out cost curve before the scam threshold is "
            "chosen at its minimum (0: the raw minimum).",
        ),
    ] = THRESHOLD_SMOOTHING,
    tol: Annotated[
        float,
        typer.Option(
            "--tol",
            min=1e-10,
            max=1e-2,
            help="Stopping tolerance of every linear fit. 1e-4 trains about 1.5x faster but stops short of the "
            "optimum, so retraining on the same data can move scores; below 1e-6 gains nothing.",
        ),
    ] = FIT_TOL,
    source_offset: Annotated[
        float,
        typer.Option(
            "--source-offset",
            min=0.0,
            max=100.0,
            help="Give each training source its own intercept while fitting (e.g. 0.3), so that what a whole "
            "source shares (its genre) is not learnt as scam or legit: fewer false alarms on unseen genres, "
            "fewer catches there too. 0: off. Sources come from a source column, else the file names.",
        ),
    ] = 0.0,
    jobs: Annotated[int | None, typer.Option("--jobs", min=1, help="Parallel fits (default: all cores).")] = None,
    encoding: Encoding = "utf-8",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing model file.")] = False,
) -> None:
    """Train a model and save it with its metrics (MODEL.metrics.json beside it)."""
    with _errors():
        from .api import train as train_model
        from .config import DEFAULT_PROJECT_MODEL_PATH, MODEL_ENV_VAR
        from .dataset import atomic_write_bytes
        from .errors import OutputExistsError

        target = Path(model_path or os.environ.get(MODEL_ENV_VAR) or DEFAULT_PROJECT_MODEL_PATH)
        metrics_path = target.with_suffix(".metrics.json")
        if target.exists() and not force:
            raise OutputExistsError(f"{target}: model file exists; pass --force to replace it")
        source = (
            "the bundled corpus"
            if not data_paths
            else ", ".join(data_paths) + (" + bundled corpus" if with_bundled else "")
        )
        # Bad data is one error line and nothing else: the message comes once the data is checked.
        model = train_model(
            data_paths or None,
            text_col=text_col,
            label_col=label_col,
            with_bundled=with_bundled,
            miss_cost=miss_cost,
            suspicious_recall=suspicious_recall,
            threshold_smoothing=threshold_smoothing,
            tol=tol,
            source_offset=source_offset,
            n_jobs=jobs or -1,
            encoding=encoding,
            notify=lambda message: _err(f"Training on {source}: {message} ..."),
        )
        model.save(target, force=force)
        metrics = {
            k: model.metadata[k] for k in ("rows", "class_counts", "threshold", "suspicious_threshold", "metrics")
        }
        atomic_write_bytes(metrics_path, json.dumps(metrics, indent=2).encode(), force=True)
        _print_training_summary(model.metadata, target, metrics_path)


def _print_training_summary(meta: dict[str, Any], target: Path, metrics_path: Path) -> None:
    from .evaluate import format_table

    counts = meta["class_counts"]
    loso = meta["metrics"]["leave_one_source_out"]
    n = loso.get("assignments", 1)
    mean_of = f", the mean of {n} assignments of sources to folds" if n > 1 else ""
    per = ", ".join("-" if f is None else str(f) for f in loso.get("macro_f1_by_assignment", []))
    lines = [
        f"Rows: {meta['rows']} (scam {counts.get('scam', 0)}, legit {counts.get('legit', 0)})",
        f"Thresholds: scam {meta['threshold']:.3f}, suspicious {meta['suspicious_threshold']:.3f}",
        f"Held out by source (each row scored by a model that never saw its source{mean_of}):",
        format_table(loso["by_source"], "source"),
        f"Macro F1 over held-out sources with both classes: {loso['macro_f1']}"
        + (f" (per assignment: {per})" if n > 1 else ""),
    ]
    if "random_split" in meta["metrics"]:
        lines.append(f"Random 80/20 split F1 (optimistic): {meta['metrics']['random_split']['f1']}")
    lines += [f"Model: {target}", f"Metrics: {metrics_path}"]
    typer.echo("\n".join(lines))


@app.command()
def score(
    input_path: Annotated[str, typer.Argument(help="CSV/TSV/JSONL/Parquet file, or - for standard input.")],
    model_path: ModelPath = None,
    output_path: Annotated[
        str | None, typer.Option("--output-path", help="Output file (format by extension); default: CSV on stdout.")
    ] = None,
    text_col: TextCol = "text",
    threshold: Threshold = None,
    input_format: Annotated[
        str | None,
        typer.Option("--input-format", help="csv, tsv, jsonl or parquet (default: by extension; stdin: csv)."),
    ] = None,
    output_format: Annotated[
        str | None, typer.Option("--output-format", help="csv, tsv, jsonl or parquet (default: by extension).")
    ] = None,
    evidence: Annotated[
        Evidence,
        typer.Option(
            "--evidence",
            help="Which rows get the evidence column: flagged (scam and suspicious), all (slower), none.",
        ),
    ] = Evidence.flagged,
    no_evidence: NoEvidence = False,
    overwrite_columns: Annotated[
        bool, typer.Option("--overwrite-columns", help="Replace input columns named like the output columns.")
    ] = False,
    encoding: Encoding = "utf-8",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
    redact: Redact = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=0, help="Worker processes (0: one per CPU). The output is the same for any N."
        ),
    ] = 0,
    by_turn: Annotated[
        bool,
        typer.Option(
            "--by-turn", help="Score turn by turn: add alarm_turn and max_probability (and turn, long format)."
        ),
    ] = False,
    call_id_col: Annotated[
        str | None, typer.Option("--call-id-col", help="Long format (--by-turn): the column naming each row's call.")
    ] = None,
    turn_col: Annotated[
        str | None, typer.Option("--turn-col", help="Long format: the column giving the order of turns in a call.")
    ] = None,
    speaker_col: Annotated[
        str | None, typer.Option("--speaker-col", help="Long format: the speaker column (kept, not scored).")
    ] = None,
    trajectory: Annotated[
        bool, typer.Option("--trajectory", help="With --by-turn: add the probability after every turn (JSON list).")
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="local: this machine; dask: a Dask cluster (INPUT may be a directory or glob; output a directory).",
        ),
    ] = Engine.local,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="With --engine dask: the scheduler address (default: a local cluster)."),
    ] = None,
) -> None:
    """Score a file of transcripts: adds scam_probability, is_scam, verdict, scam_type, evidence, note."""
    with _errors():
        from .dataset import check_input_path, detect_format
        from .errors import DataError, OutputExistsError

        evidence_mode = _evidence_mode(evidence, no_evidence)
        if engine is Engine.dask:
            _score_on_dask(locals())
            return
        if scheduler:
            raise DataError("--scheduler needs --engine dask")
        check_input_path(input_path, fmt=input_format, encoding=encoding)
        if output_path and output_path != "-":
            detect_format(output_path, output_format)
            if Path(output_path).is_dir():
                raise DataError(f"{output_path}: is a directory; give a file path for --output-path")
            if Path(output_path).exists() and not force:
                raise OutputExistsError(f"{output_path}: output file exists; pass --force to replace it")
        if not by_turn and (call_id_col or turn_col or speaker_col or trajectory):
            raise DataError("--call-id-col, --turn-col, --speaker-col and --trajectory need --by-turn")
        turn_options = (
            {"call_id_col": call_id_col, "turn_col": turn_col, "speaker_col": speaker_col, "trajectory": trajectory}
            if by_turn
            else None
        )
        _state["streaming"] = output_path in (None, "-")
        from .api import load, score_file  # after the checks: bad input fails fast

        model = load(model_path, notify=_notify)
        with _progress("Scoring", auto_refresh=False) as bar:
            task = bar.add_task("score", total=None) if bar else None
            summary = score_file(
                model,
                input_path,
                None if output_path in (None, "-") else output_path,
                text_col=text_col,
                input_format=input_format,
                output_format=output_format,
                threshold=threshold,
                evidence=evidence_mode,
                overwrite_columns=overwrite_columns,
                force=force,
                encoding=encoding,
                progress=(lambda n: (bar.advance(task, n), bar.refresh())) if bar else None,
                redact=redact,
                jobs=jobs,
                by_turn=turn_options,
            )
        if output_path not in (None, "-"):
            _err(
                f"Scored {summary['rows']} rows: {summary['scam']} scam, {summary['suspicious']} suspicious, "
                f"{summary['legit']} legit, {summary['not_scored']} not scored (see the note column) -> {output_path}"
            )
            _report_unfamiliar(summary)


def _score_on_dask(options: dict[str, Any]) -> None:
    """``score --engine dask``: the same scores, computed on a Dask cluster."""
    from .api import load
    from .dask_engine import check_output_spec, score_files_dask
    from .errors import DataError

    if options["by_turn"]:
        raise DataError("--by-turn runs on the local engine only")
    output_format = check_output_spec(options["output_path"], options["output_format"])
    model = load(options["model_path"], notify=_notify)
    summary = score_files_dask(
        model,
        options["input_path"],
        options["output_path"],
        scheduler=options["scheduler"],
        text_col=options["text_col"],
        input_format=options["input_format"],
        output_format=output_format,
        threshold=options["threshold"],
        evidence=options["evidence_mode"],
        redact=options["redact"],
        overwrite_columns=options["overwrite_columns"],
        encoding=options["encoding"],
        force=options["force"],
        progress=sys.stderr.isatty(),
    )
    _err(
        f"Scored {summary['rows']} rows in {summary['partitions']} partitions: {summary['scam']} scam, "
        f"{summary['suspicious']} suspicious, {summary['legit']} legit, {summary['not_scored']} not scored "
        f"-> {options['output_path']}/"
    )
    _report_unfamiliar(summary)


def _report_unfamiliar(summary: dict[str, Any]) -> None:
    """One line on stderr when rows were written largely in a script the model never saw."""
    n = summary.get("unfamiliar", 0)
    if n:
        rows = "1 row is" if n == 1 else f"{n} rows are"
        _err(
            f"{rows} written largely in a script the model never saw in training; their scores say little (see the note column)"
        )


@app.command()
def stream(
    model_path: ModelPath = None,
    threshold: Threshold = None,
    evidence: Annotated[
        Evidence,
        typer.Option(
            "--evidence",
            help="When a turn's answer lists the evidence so far: flagged (while the call is not legit), all, none.",
        ),
    ] = Evidence.flagged,
    no_evidence: NoEvidence = False,
    idle_timeout: Annotated[
        float, typer.Option("--idle-timeout", min=1.0, help="Forget a call after this many seconds without a turn.")
    ] = 900.0,
    max_calls: Annotated[
        int, typer.Option("--max-calls", min=1, help="Open calls kept at most (the least recently active go first).")
    ] = 10_000,
) -> None:
    """Score live calls: JSON Lines in on stdin, one JSON answer per line out, flushed at once.

    In: {"call_id": "c1", "text": "...", "speaker": "caller"} per utterance; "end": true closes
    a call. Out: call_id, turn, scam_probability, verdict, alarm (true on the turn that first
    reaches the scam threshold) and the evidence so far; a bad line gets {"line": n, "error": ...}.
    """
    with _errors():
        from .api import load
        from .api import stream as stream_scores

        evidence_mode = _evidence_mode(evidence, no_evidence)
        _state["streaming"] = True
        model = load(model_path, notify=_notify)
        lines = iter(sys.stdin.readline, "")
        answers = stream_scores(
            model,
            lines,
            threshold=threshold,
            evidence=evidence_mode,
            idle_timeout=idle_timeout,
            max_calls=max_calls,
        )
        for answer in answers:
            try:
                line = json.dumps(answer, ensure_ascii=False)
            except UnicodeEncodeError:  # an unpaired surrogate in the text's evidence: escape it
                line = json.dumps(answer)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


@app.command()
def serve(
    model_path: ModelPath = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind (default: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Server processes.")] = 1,
    api_key_file: Annotated[
        Path | None,
        typer.Option("--api-key-file", help="File holding the API key (else $SCAMCLF_API_KEY; none: no key needed)."),
    ] = None,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Larger request bodies get 413.")
    ] = 1_000_000,
    max_texts: Annotated[int, typer.Option("--max-texts", min=1, help="More transcripts per request get 413.")] = 1000,
) -> None:
    """Serve predictions over HTTP (needs scamclf[serve]): /predict, /score, /health, /model, /docs, and a page at /."""
    with _errors():
        from .errors import DataError

        try:
            from . import serve as server
        except ImportError as exc:
            raise DataError(
                f"scamclf serve needs the serve extra: pip install 'scamclf[serve]' ({exc.name} missing)"
            ) from None
        from .api import load, resolve_model_path

        api_key = server.read_api_key(api_key_file)
        path, _ = resolve_model_path(model_path)
        model = load(path, notify=_notify)  # verified here: a model that does not verify never serves
        if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
            _err(
                f"Warning: serving on {host} without an API key: anyone who can reach this port can use it. "
                "Set SCAMCLF_API_KEY or --api-key-file."
            )
        _err(f"Serving {path} on http://{host}:{port} (page: /, API docs: /docs); Ctrl-C stops.")
        server.run(
            model,
            str(model.path or path),
            host=host,
            port=port,
            workers=workers,
            api_key=api_key,
            max_body_bytes=max_body_bytes,
            max_texts=max_texts,
        )


@app.command()
def predict(
    text: Annotated[str | None, typer.Argument(help="The transcript; - or nothing: read standard input.")] = None,
    model_path: ModelPath = None,
    threshold: Threshold = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
    redact: Redact = False,
) -> None:
    """Score one transcript and print the verdict, probability, scam type, evidence and any note."""
    with _errors():
        from .api import load
        from .errors import DataError

        if text is None or text == "-":
            if sys.stdin.isatty():
                raise DataError("no transcript given; pass it as an argument or pipe it on standard input")
            text = sys.stdin.read()
        model = load(model_path, notify=_notify)
        result = model.predict(text, threshold=threshold, redact=redact)
        if as_json:
            typer.echo(json.dumps(result, ensure_ascii=False))
            return
        if result["verdict"] is None:
            typer.echo(f"No score: {result['note']}")
            return
        kind = f", type {result['scam_type']}" if result["scam_type"] else ""
        typer.echo(f"{result['verdict'].upper()} (scam probability {result['scam_probability']:.2f}{kind})")
        if result["evidence"]:
            typer.echo("Evidence: " + "; ".join(f"{e['phrase']} ({e['weight']:+.2f})" for e in result["evidence"]))
        if result["note"]:
            typer.echo(f"Note: {result['note']}")


@app.command()
def info(model_path: ModelPath = None) -> None:
    """Show a model's metadata and metrics, and whether it verifies (exit 1 when it does not)."""
    with _errors():
        from .api import resolve_model_path
        from .errors import ScamclfError
        from .persistence import read_header, verify_model

        path, origin = resolve_model_path(model_path)
        try:
            header = verify_model(path)
            status = "verified"
        except ScamclfError as exc:
            header = read_header(path)
            status = f"NOT VERIFIED: {exc}"
        loso = header.get("metrics", {}).get("leave_one_source_out", {})
        lines = [
            f"Model: {path} ({origin})",
            f"Integrity: {status}",
            f"Format version: {header.get('format_version')}; created {header.get('created_at')}",
            "Versions: " + ", ".join(f"{k} {v}" for k, v in header.get("versions", {}).items()),
            f"Payload SHA-256: {header.get('payload_sha256')}",
            f"Training data SHA-256: {header.get('data_sha256')} ({header.get('rows')} rows: {header.get('class_counts')})",
            f"Thresholds: scam {header.get('threshold')}, suspicious {header.get('suspicious_threshold')}",
            f"Scam types: {', '.join(header.get('scam_types', []))}",
            f"Held-out-source macro F1: {loso.get('macro_f1')}",
        ]
        typer.echo("\n".join(lines))
        if status != "verified":
            raise typer.Exit(code=1)


@app.command()
def verify(model_path: ModelPath = None) -> None:
    """Check a model file without loading it: header, format version, SHA-256, allowed types."""
    with _errors():
        from .api import resolve_model_path
        from .persistence import verify_model

        path, _ = resolve_model_path(model_path)
        header = verify_model(path)
        typer.echo(
            f"OK: {path} verifies (SHA-256 {header['payload_sha256'][:16]}..., format {header['format_version']})"
        )


@app.command()
def evaluate(
    data_path: Annotated[str, typer.Argument(help="Labelled CSV/TSV/JSONL/Parquet file.")],
    model_path: ModelPath = None,
    text_col: TextCol = "text",
    label_col: Annotated[str, typer.Option("--label-col", help="Column holding the label.")] = "label",
    group_col: Annotated[
        list[str] | None, typer.Option("--group-col", help="Break metrics down by this column (repeatable).")
    ] = None,
    threshold: Threshold = None,
    report_dir: Annotated[
        Path | None, typer.Option("--report-dir", help="Write report.json, report.md and PNG plots here.")
    ] = None,
    encoding: Encoding = "utf-8",
    force: Annotated[bool, typer.Option("--force", help="Replace existing report files.")] = False,
    by_turn: Annotated[
        bool, typer.Option("--by-turn", help="Add the early-detection curve: recall and FPR after k turns.")
    ] = False,
    call_id_col: Annotated[
        str | None, typer.Option("--call-id-col", help="Long format: one row per turn, this column names the call.")
    ] = None,
    turn_col: Annotated[
        str | None, typer.Option("--turn-col", help="Long format: the column giving the order of turns.")
    ] = None,
) -> None:
    """Measure a model on labelled transcripts: precision, recall, F1, FPR, ROC/PR-AUC, calibration."""
    with _errors():
        from .api import evaluate_file, load
        from .evaluate import format_table, write_report

        model = load(model_path, notify=_notify)
        report, y, proba = evaluate_file(
            model,
            data_path,
            text_col=text_col,
            label_col=label_col,
            group_cols=group_col or [],
            threshold=threshold,
            encoding=encoding,
            by_turn=by_turn,
            call_id_col=call_id_col,
            turn_col=turn_col,
        )
        typer.echo(format_table({"all": report["overall"]}, "data"))
        if "early_detection" in report:
            from .evaluate import format_early_detection

            typer.echo("\nEarly detection (turn by turn):\n" + format_early_detection(report["early_detection"]))
        for name, block in report["by"].items():
            typer.echo(f"\nBy {name}:\n" + format_table(block["groups"], name))
        if len(report.get("by_length", {})) > 1:
            typer.echo("\nBy transcript length:\n" + format_table(report["by_length"], "length"))
        if report_dir is not None:
            written = write_report(report, report_dir, y, proba, force=force)
            _err(f"Report: {', '.join(str(p) for p in written)}")


def main() -> None:
    """Entry point of the ``scamclf`` console script."""
    # Installed before parsing so that a signal at any moment exits 130/143 without a traceback;
    # a SIGINT that the parent ignores (a background job) stays ignored.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app(prog_name="scamclf")
    except _Terminated:
        _err(_stopped("Terminated"))
        sys.exit(143)
    except SystemExit as exc:
        # Click turns a Ctrl-C during argument parsing into "Aborted!" and status 1.
        if _state["signal"] == signal.SIGINT and exc.code == 1:
            sys.exit(130)
        raise
