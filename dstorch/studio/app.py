"""The studio's web app: the page, the API, the report, and `serve` (make studio)."""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
import traceback
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from dstorch.config import ENV_FILE, PipelineConfig
from dstorch.datafiles import REPORT_HTML
from dstorch.entry import bug_report_line
from dstorch.errors import DstorchError
from dstorch.report.plots import PNGS
from dstorch.studio import StudioError
from dstorch.studio import table as commands_table
from dstorch.studio.security import COOKIE, QUERY, TokenGuard, new_token
from dstorch.studio.takes import TAKES_WANTED, Takes, read_take
from dstorch.studio.training import Trainer
from dstorch.studio.tryout import TryService

STATIC = Path(__file__).parent / "static"
EVENT_INTERVAL = 1.0  # seconds between training progress events
MAX_BODY = 4 * 1024 * 1024  # bytes: a 10 s take is 320 kB
REPORT_FILES = (REPORT_HTML, *PNGS.values())  # the page first: /report/ shows it


class Studio:
    """The project at `root` (configuration.env there) as the handlers see it."""

    def __init__(self, root: Path, config_path: Path):
        self.root, self.config_path = Path(root), Path(config_path)
        self.trainer = Trainer(self.root, self.config_path)
        self.tryout = TryService(self.root, self.config_path)

    def config(self) -> PipelineConfig:
        return PipelineConfig.load(self.config_path)

    def commands_path(self) -> Path:
        return self.root / self.config().commands_csv

    def takes(self) -> Takes:
        config = self.config()
        return Takes(self.root / config.original_dir / config.language, config.filename_pattern)

    def state(self) -> dict:
        config = self.config()
        return {
            "language": config.language,
            "table": commands_table.load(self.commands_path()),
            "commands": commands_table.sentences(self.commands_path(), config.language),
            "takes": self.takes().counts(),
            "wanted": TAKES_WANTED,
        }


async def _json(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise StudioError("request: send a JSON object") from None
    if not isinstance(body, dict):
        raise StudioError("request: send a JSON object")
    return body


async def _body(request: Request) -> bytes:
    data = await request.body()
    if len(data) > MAX_BODY:
        raise StudioError(f"request: {len(data)} bytes; at most {MAX_BODY}")
    return data


def _studio(request: Request) -> Studio:
    return request.app.state.studio


async def page(request: Request) -> Response:
    response = FileResponse(STATIC / "index.html")
    token = request.query_params.get(QUERY, "")
    if hmac.compare_digest(token.encode(), request.app.state.token.encode()):
        # for the report frame and its images, which cannot send a header
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
    return response


async def state(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(_studio(request).state))


async def save_commands(request: Request) -> Response:
    studio, body = _studio(request), await _json(request)
    columns, rows = body.get("columns"), body.get("rows")
    if not isinstance(rows, list):
        raise StudioError("commands: rows must be a list")
    await run_in_threadpool(commands_table.save, studio.commands_path(), columns, rows)
    return JSONResponse(await run_in_threadpool(studio.state))


async def trim(request: Request) -> Response:
    """Where the speech of a take is (what VAD_TRIM keeps), for the page to show."""
    from dstorch.vad import SAMPLE_RATE, speech_span

    pcm = read_take(await _body(request))
    span = await run_in_threadpool(speech_span, pcm)
    seconds = len(pcm) / SAMPLE_RATE
    if span is None:
        return JSONResponse({"speech": False, "seconds": seconds})
    start, end = (x / SAMPLE_RATE for x in span)
    return JSONResponse({"speech": True, "seconds": seconds, "start": start, "end": end})


async def save_take(request: Request) -> Response:
    studio = _studio(request)
    speaker = request.query_params.get("speaker", "")
    key = request.query_params.get("id", "")
    config = studio.config()
    if key not in commands_table.sentences(studio.commands_path(), config.language):
        raise StudioError(f"command id {key!r}: not in {config.commands_csv}; add it first")
    pcm = read_take(await _body(request))
    path = await run_in_threadpool(studio.takes().save, speaker, key, pcm)
    return JSONResponse({"name": path.name, "takes": studio.takes().counts()})


async def train_start(request: Request) -> Response:
    _studio(request).trainer.start()
    return JSONResponse({"started": True})


async def train_stop(request: Request) -> Response:
    trainer = _studio(request).trainer
    await run_in_threadpool(trainer.stop)
    return JSONResponse(await run_in_threadpool(trainer.snapshot))


async def train_events(request: Request) -> Response:
    """Server-sent events: the Train page's snapshot every EVENT_INTERVAL seconds."""
    trainer = _studio(request).trainer

    async def events():
        while not await request.is_disconnected():
            snapshot = await run_in_threadpool(trainer.snapshot)
            yield f"data: {json.dumps(snapshot)}\n\n"
            await asyncio.sleep(EVENT_INTERVAL)

    return StreamingResponse(events(), media_type="text/event-stream")


async def report(request: Request) -> Response:
    studio = _studio(request)
    name = request.path_params.get("name") or REPORT_FILES[0]
    if name not in REPORT_FILES:  # a fixed list: no path from the request is opened
        return JSONResponse({"error": f"{name}: not a report file"}, status_code=404)
    path = studio.root / studio.config().models_dir / name
    if not path.is_file():
        return Response("No report yet: train a model (Train page), then look again.")
    return FileResponse(path)


async def try_open(request: Request) -> Response:
    return JSONResponse({"session": await run_in_threadpool(_studio(request).tryout.open)})


async def try_feed(request: Request) -> Response:
    session, data = request.path_params["session"], await _body(request)
    found = await run_in_threadpool(_studio(request).tryout.feed, session, data)
    return JSONResponse({"utterances": found})


async def try_close(request: Request) -> Response:
    tryout = _studio(request).tryout
    found = await run_in_threadpool(tryout.close, request.path_params["session"])
    return JSONResponse({"utterances": found})


ROUTES = [
    Route("/", page),
    Route("/api/state", state),
    Route("/api/commands", save_commands, methods=["POST"]),
    Route("/api/trim", trim, methods=["POST"]),
    Route("/api/takes", save_take, methods=["POST"]),
    Route("/api/train/start", train_start, methods=["POST"]),
    Route("/api/train/stop", train_stop, methods=["POST"]),
    Route("/api/train/events", train_events),
    Route("/report/", report),
    Route("/report/{name}", report),
    Route("/api/try", try_open, methods=["POST"]),
    Route("/api/try/{session}", try_feed, methods=["POST"]),
    Route("/api/try/{session}/close", try_close, methods=["POST"]),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]


async def _refused(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, status_code=400)


class BugReport:
    """ASGI middleware for what no handler refused (DstorchError: 400) but raised: a bug.
    Its traceback and the line asking to report it go to the terminal, one line to the
    page (500)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - reported here, not again by uvicorn
            traceback.print_exc()
            request = f"{scope.get('method', '')} {scope.get('path', '')}"
            print(bug_report_line(f"make studio, then {request}"), file=sys.stderr, flush=True)
            if scope["type"] == "http" and not started:
                why = f"internal error ({type(exc).__name__}): a bug; see the studio's terminal"
                await JSONResponse({"error": why}, status_code=500)(scope, receive, send)


def create_app(root: Path, config_path: Path, token: str, host: str) -> Starlette:
    app = Starlette(routes=ROUTES, exception_handlers={DstorchError: _refused})
    app.state.token, app.state.studio = token, Studio(root, config_path)
    app.add_middleware(TokenGuard, token=token, host=host)
    app.add_middleware(BugReport)  # the outermost: also around the guard
    return app


def serve(config_path: str | Path = ENV_FILE, root: str | Path = ".") -> None:
    """Run the studio until Ctrl-C; prints the URL (with its token) first."""
    import uvicorn

    config = PipelineConfig.load(config_path)
    token = new_token()
    app = create_app(Path(root).resolve(), Path(config_path).resolve(), token, config.studio_host)
    shown = "127.0.0.1" if config.studio_host in ("0.0.0.0", "::") else config.studio_host
    print(f"Studio: http://{shown}:{config.studio_port}/?token={token}", flush=True)
    if shown != config.studio_host:
        print(f"(STUDIO_HOST={config.studio_host}: from another machine, use this one's address)")
    uvicorn.run(app, host=config.studio_host, port=config.studio_port, log_level="warning")
