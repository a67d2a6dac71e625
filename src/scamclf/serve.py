"""An HTTP prediction service (FastAPI), for the optional extra ``scamclf[serve]``.

``create_app(model)`` builds the app around a loaded, verified model: ``POST /predict``,
``POST /score``, ``POST /score/csv`` (the page's file upload), ``GET /health``, ``GET /model``,
the OpenAPI schema and docs, and ``GET /``, a self-contained page for analysts. Bodies over
``max_body_bytes`` get 413 (checked while the body streams in, not after), as do requests with
more than ``max_texts`` transcripts. With an API key, every endpoint but ``/health`` needs it as
a bearer token, or (the page) a session cookie set by the login form; keys are compared in
constant time. Transcripts never reach the logs: only method, path and status are logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from .api import ScamModel, load
from .dataset import iter_table_chunks
from .errors import DataError

__all__ = ["app_from_env", "create_app", "read_api_key", "run"]

SESSION_COOKIE = "scamclf_session"
SESSION_SECONDS = 8 * 3600
MAX_CSV_COLUMNS = 200
API_KEY_ENV = "SCAMCLF_API_KEY"


class PredictRequest(BaseModel):
    """One transcript."""

    text: str = Field(description="The call transcript (one turn per line, or free text).")


class Record(BaseModel):
    id: str | int | None = Field(default=None, description="Your identifier, echoed in the answer.")
    text: str


class ScoreRequest(BaseModel):
    """Several transcripts: ``texts``, or ``records`` with ids (one of the two)."""

    texts: list[str] | None = None
    records: list[Record] | None = None


class _TooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body over {limit} bytes")


class BodyLimit:
    """ASGI middleware: 413 as soon as a request body passes ``limit`` bytes."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge(self.limit)
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        response = JSONResponse({"detail": f"request body over {self.limit} bytes"}, status_code=413)
        await response({"type": "http"}, None, send)


def create_app(
    model: ScamModel, *, api_key: str | None = None, max_body_bytes: int = 1_000_000, max_texts: int = 1000
) -> Any:
    """The FastAPI app serving ``model`` (already loaded and verified)."""
    app = FastAPI(
        title="scamclf",
        version=str((model.metadata.get("versions") or {}).get("scamclf", "")),
        description="Flag scam phone calls from their transcripts, and say why.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    def authorised(request: Request) -> bool:
        if not api_key:
            return True
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer ") and hmac.compare_digest(header[7:].strip().encode(), api_key.encode()):
            return True
        return _valid_session(request.cookies.get(SESSION_COOKIE, ""), api_key)

    def require_key(request: Request) -> None:
        if not authorised(request):
            raise HTTPException(status_code=401, detail="API key required", headers={"WWW-Authenticate": "Bearer"})

    guarded = [Depends(require_key)]

    @app.get("/health", summary="Liveness (no key needed)")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/model", dependencies=guarded, summary="The model being served: version, hash, thresholds")
    def model_info() -> dict[str, Any]:
        meta = model.metadata
        keys = ("format_version", "created_at", "payload_sha256", "data_sha256", "rows", "versions")
        return {
            "path": str(model.path) if model.path else None,
            **{k: meta.get(k) for k in keys},
            "threshold": model.threshold,
            "suspicious_threshold": float(model.estimator.suspicious_threshold_),
            "scam_types": [str(t) for t in model.estimator.type_classes_],
        }

    @app.post("/predict", dependencies=guarded, summary="Score one transcript (as `scamclf predict --json`)")
    def predict(body: PredictRequest) -> dict[str, Any]:
        return model.predict(body.text)

    @app.post("/score", dependencies=guarded, summary="Score several transcripts, answers in the same order")
    def score(body: ScoreRequest) -> dict[str, Any]:
        if (body.texts is None) == (body.records is None):
            raise HTTPException(status_code=422, detail="send exactly one of 'texts' or 'records'")
        items = body.texts if body.texts is not None else [r.text for r in body.records or []]
        if len(items) > max_texts:
            raise HTTPException(status_code=413, detail=f"more than {max_texts} transcripts in one request")
        results = model.predict_many(items)
        if body.records is not None:
            results = [{"id": r.id, **res} for r, res in zip(body.records, results, strict=True)]
        return {"results": results}

    @app.post("/score/csv", dependencies=guarded, summary="Score a CSV file (a `text` column); answers CSV")
    async def score_csv(request: Request) -> Response:
        raw = await request.body()
        # Parsing and scoring are CPU work: off the event loop, so other requests keep flowing.
        return await run_in_threadpool(_score_csv, raw)

    def _score_csv(raw: bytes) -> Response:
        if raw.split(b"\n", 1)[0].count(b",") >= MAX_CSV_COLUMNS:
            raise HTTPException(status_code=413, detail=f"more than {MAX_CSV_COLUMNS} columns")
        try:
            with tempfile.TemporaryDirectory() as folder:  # the CLI's own reader: same parsing, same errors
                path = Path(folder) / "upload.csv"
                path.write_bytes(raw)
                frame = pd.concat(list(iter_table_chunks(path, fmt="csv")), ignore_index=True)
        except DataError as exc:
            detail = str(exc).split(": ", 1)[-1]
            raise HTTPException(status_code=422, detail=f"not a readable CSV file: {detail}") from None
        if len(frame) > max_texts:
            raise HTTPException(status_code=413, detail=f"more than {max_texts} rows in one file")
        try:
            scored = model.score_frame(frame, source="upload")
        except DataError as exc:
            raise HTTPException(status_code=422, detail=str(exc).split(": ", 1)[-1]) from None
        return Response(
            scored.to_csv(index=False),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="scored.csv"'},
        )

    @app.get("/openapi.json", dependencies=guarded, include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", dependencies=guarded, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="scamclf API")

    @app.get("/", include_in_schema=False)
    def page(request: Request) -> Response:
        if not authorised(request):
            return RedirectResponse("/login", status_code=303)
        return HTMLResponse(_asset("page.html"))

    @app.get("/login", include_in_schema=False)
    def login_form() -> HTMLResponse:
        return HTMLResponse(_asset("login.html").replace("{{error}}", ""))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        fields = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
        given = (fields.get("api_key") or [""])[0]
        if not api_key or not hmac.compare_digest(given.encode(), api_key.encode()):
            message = '<p role="alert" class="error">That key is not valid.</p>'
            return HTMLResponse(_asset("login.html").replace("{{error}}", message), status_code=401)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            _new_session(api_key),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    return BodyLimit(app, max_body_bytes)


def _new_session(api_key: str) -> str:
    """A session token: its expiry, signed with the API key (valid in every server process)."""
    expires = str(int(time.time()) + SESSION_SECONDS)
    signature = hmac.new(api_key.encode(), expires.encode(), hashlib.sha256).hexdigest()
    return f"{expires}.{signature}"


def _valid_session(token: str, api_key: str) -> bool:
    expires, _, signature = token.partition(".")
    if not expires.isdigit() or int(expires) < time.time():
        return False
    expected = hmac.new(api_key.encode(), expires.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature.encode(), expected.encode())


def _asset(name: str) -> str:
    return (resources.files("scamclf") / "web" / name).read_text(encoding="utf-8")


def read_api_key(api_key_file: str | Path | None) -> str | None:
    """The API key: from ``api_key_file`` (first line), else ``$SCAMCLF_API_KEY``, else none."""
    if api_key_file:
        try:
            key = Path(api_key_file).read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise DataError(f"{api_key_file}: cannot read an API key from it ({exc.__class__.__name__})") from None
        if not key:
            raise DataError(f"{api_key_file}: the API key file is empty")
        return key
    return os.environ.get(API_KEY_ENV) or None


class _NoQueryInAccessLog(logging.Filter):
    """Access log lines keep method, path and status; a query string (which could carry text) is cut."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def run(
    model: ScamModel,
    model_path: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    api_key: str | None = None,
    max_body_bytes: int = 1_000_000,
    max_texts: int = 1000,
) -> None:
    """Serve until interrupted (``workers`` > 1: uvicorn worker processes, each loading the model)."""
    import uvicorn

    logging.getLogger("uvicorn.access").addFilter(_NoQueryInAccessLog())
    if workers <= 1:
        app = create_app(model, api_key=api_key, max_body_bytes=max_body_bytes, max_texts=max_texts)
        uvicorn.run(app, host=host, port=port, server_header=False)
        return
    os.environ.update(
        SCAMCLF_SERVE_MODEL=str(model_path),
        SCAMCLF_SERVE_MAX_BODY=str(max_body_bytes),
        SCAMCLF_SERVE_MAX_TEXTS=str(max_texts),
    )
    if api_key:
        os.environ[API_KEY_ENV] = api_key
    uvicorn.run("scamclf.serve:app_from_env", factory=True, host=host, port=port, workers=workers, server_header=False)


def app_from_env() -> Any:
    """App factory for ``uvicorn --factory`` (``scamclf serve --workers N`` starts these)."""
    logging.getLogger("uvicorn.access").addFilter(_NoQueryInAccessLog())
    model = load(os.environ["SCAMCLF_SERVE_MODEL"])
    return create_app(
        model,
        api_key=os.environ.get(API_KEY_ENV) or None,
        max_body_bytes=int(os.environ.get("SCAMCLF_SERVE_MAX_BODY", "1000000")),
        max_texts=int(os.environ.get("SCAMCLF_SERVE_MAX_TEXTS", "1000")),
    )
