"""The ``web`` annotator: a labelling page in the browser, served on this machine.

When the run asks a person (:meth:`WebAnnotator.annotate`), a FastAPI app is served by uvicorn
in a thread on ``host:port`` (``127.0.0.1`` by default: nothing is exposed beyond loopback). The
page shows one item at a time (the image enlarged with nearest-neighbour pixels, or a table
row's features), each classifier's suggestion and confidence, the classes as buttons with
keyboard shortcuts, progress, skip, undo and stop.

Every answer is journaled (``RUN/answers.jsonl``, fsynced, through ``AnnotationContext.record``)
before the page is told it counts, so closing the browser or killing the process loses nothing
and ``--resume`` asks only what is still unanswered. Undo takes back an answer of the round being
asked, which the run has not used yet: it appends a retraction line to the journal (the journal
is append-only; a later line supersedes an earlier one). When every item of the round is
answered, undo stays possible for ``grace_seconds``; then the round goes to the run and the
server stops until the run asks again (the page waits and reconnects by itself). ``Stop`` (or
Ctrl-C) ends the session: the run ends as ``waiting`` and ``--resume`` continues.

API (JSON): ``GET /api/meta`` (classes, shortcuts), ``GET /api/next`` (the item to ask, progress),
``GET /api/image/{item}`` (PNG), ``POST /api/answer`` ``{item, label}``, ``POST /api/skip``
``{item}``, ``POST /api/undo``, ``POST /api/stop``.
"""

from __future__ import annotations

import importlib.util
import io
import ipaddress
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fxcore.errors import ConfigError, RunError
from fxcore.label.annotators import AnnotationContext

#: keys given to classes whose name is not itself a single free key, in this order
SHORTCUT_KEYS = "1234567890abcdefghijklmnopqrstuvwxyz"
LOOPBACK_NAMES = ("localhost",)


class WebParams(BaseModel):
    """Params of the ``web`` annotator (``[annotator.params]``; ``fx label --port``)."""

    model_config = ConfigDict(extra="forbid")
    host: str = Field("127.0.0.1", description="address to listen on; anything but loopback "
                      "shows the page (without a login) to the network")
    port: int = Field(8765, ge=0, le=65535, description="port (0: any free port)")
    open_browser: bool = Field(False, description="open the page in the default browser")
    image_size: int = Field(448, ge=16, le=4096, description="small images are enlarged "
                            "(nearest neighbour) to at least this many pixels on the longer side")
    grace_seconds: float = Field(2.0, ge=0, le=60, description="after a round's last answer, "
                                 "how long undo is still possible before the run uses it")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def shortcuts(classes: Sequence[str]) -> list[str | None]:
    """One key per class: the class name itself when it is one free character (``"7"``), else
    the next free key of :data:`SHORTCUT_KEYS`; ``None`` when the keys run out."""
    keys: list[str | None] = [None] * len(classes)
    used: set[str] = set()
    for k, name in enumerate(classes):
        key = str(name).strip().lower()
        if len(key) == 1 and key.isalnum() and key not in used:
            keys[k] = key
            used.add(key)
    free = (c for c in SHORTCUT_KEYS if c not in used)
    for k in range(len(classes)):
        if keys[k] is None:
            keys[k] = next(free, None)
    return keys


def render_png(image: Any, size: int) -> bytes:
    """An image ``(C, H, W)`` in [0, 1] as PNG, enlarged by a whole factor (nearest neighbour)
    so that its longer side is at least ``size`` pixels."""
    from PIL import Image  # matplotlib's dependency

    arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    pixels = (np.clip(np.nan_to_num(arr), 0, 1) * 255).round().astype(np.uint8)
    pixels = pixels[0] if pixels.shape[0] in (1, 2) else pixels[:3].transpose(1, 2, 0)
    factor = max(1, -(-size // max(pixels.shape[0], pixels.shape[1])))
    if factor > 1:
        pixels = np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, format="PNG")
    return buf.getvalue()


class AskError(Exception):
    """A request the round cannot take (HTTP ``status``)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Round:
    """One call of ``annotate``: the items asked, their answers in order, what was skipped."""

    items: list[str]
    suggestions: np.ndarray | None
    queue: list[str] = field(init=False)
    answers: dict[str, int] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)  # answered items, in order (for undo)
    skipped: set[str] = field(default_factory=set)
    stopped: bool = False
    closed: bool = False  # handed to the run: answers can no longer be taken back
    complete_at: float | None = None  # when the last answer came (for the grace period)

    def __post_init__(self) -> None:
        self.queue = list(self.items)
        self.position = {item: n for n, item in enumerate(self.items)}

    @property
    def complete(self) -> bool:
        return len(self.answers) == len(self.items)

    def current(self) -> str | None:
        return next((i for i in self.queue if i not in self.answers), None)


class WebAnnotator:
    """Asks a person through a local web page; see the module docstring."""

    journal_source = "web"

    def __init__(self, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = False,
                 image_size: int = 448, grace_seconds: float = 2.0,
                 announce: Callable[[str], None] | None = None) -> None:
        missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
        if missing:
            raise ConfigError(f"annotator 'web' needs {' and '.join(missing)}: pip install "
                              "'fxcore[web]'")
        self.host = host
        self.port = port
        self.open_browser = open_browser
        self.image_size = image_size
        self.grace_seconds = grace_seconds
        self.announce = announce or _stderr
        self.context: AnnotationContext | None = None
        self.round: Round | None = None
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._pngs: dict[str, bytes] = {}
        self._app: Any = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._opened = False

    # ------------------------------------------------------------------ contract
    def attach(self, context: AnnotationContext) -> None:
        self.context = context
        self._pngs.clear()

    def annotate(
        self, item_ids: Sequence[str], suggestions: np.ndarray | None = None
    ) -> list[int | None]:
        """Serve the page until every item is answered (then ``grace_seconds`` for undo) or the
        person stops; returns the answers (``None``: not answered, the run waits)."""
        self.begin(item_ids, suggestions)
        self.start()
        try:
            self.announce(f"label {len(item_ids)} items in the browser: {self.url}  (each answer "
                          "is saved at once; Stop or Ctrl-C ends, --resume continues)")
            if self.open_browser and not self._opened:
                self._opened = True
                webbrowser.open(self.url)
            return self.wait()
        finally:
            self.stop()

    # ------------------------------------------------------------------ the round
    def begin(self, item_ids: Sequence[str], suggestions: np.ndarray | None = None) -> Round:
        """Start asking ``item_ids`` (the app answers for this round from now on)."""
        if self.context is None:
            raise RunError("web annotator used before attach()")
        unknown = [i for i in item_ids if i not in self.context.index]
        if unknown:
            raise RunError(f"web annotator: {unknown[0]!r} is not an item of this run")
        with self.lock:
            self.round = Round(list(item_ids), None if suggestions is None
                               else np.asarray(suggestions))
            self.changed.notify_all()
            return self.round

    def wait(self, poll: float = 0.2) -> list[int | None]:
        """Block until the round is complete (and its grace period over) or stopped; close it
        and return its answers."""
        with self.lock:
            rnd = self.round
            assert rnd is not None
            while True:
                if rnd.stopped:
                    break
                if rnd.complete and rnd.complete_at is not None and (
                        time.monotonic() - rnd.complete_at >= self.grace_seconds):
                    break
                self.changed.wait(poll)
            rnd.closed = True
            self.changed.notify_all()
            return [rnd.answers.get(i) for i in rnd.items]

    def _open_round(self) -> Round:
        rnd = self.round
        if rnd is None or rnd.closed:
            raise AskError(409, "no question is open: the run is working (or has ended); "
                                "this page continues when the run asks again")
        return rnd

    def answer(self, item: str, label: Any) -> dict[str, Any]:
        """Journal ``item``'s answer, then count it (a repeated identical answer is a no-op)."""
        ctx = self.context
        assert ctx is not None
        with self.lock:
            rnd = self._open_round()
            if item not in rnd.position:
                raise AskError(404, f"item {item!r} is not asked in this round")
            label = _label(label, ctx.classes)
            if item in rnd.answers:
                if rnd.answers[item] == label:
                    return self.status()
                raise AskError(409, f"item {item!r} is already answered "
                                    f"({ctx.classes[rnd.answers[item]]}); undo it first")
            if ctx.record is not None:
                ctx.record(item, label)  # journaled and fsynced before it counts
            rnd.answers[item] = label
            rnd.history.append(item)
            rnd.skipped.discard(item)
            if rnd.complete:
                rnd.complete_at = time.monotonic()
            self.changed.notify_all()
            return self.status()

    def skip(self, item: str) -> dict[str, Any]:
        """Ask ``item`` after the others (it stays unanswered until then)."""
        with self.lock:
            rnd = self._open_round()
            if item not in rnd.position or item in rnd.answers:
                raise AskError(404, f"item {item!r} is not waiting for an answer")
            rnd.queue.remove(item)
            rnd.queue.append(item)
            rnd.skipped.add(item)
            self.changed.notify_all()
            return self.status()

    def undo(self) -> dict[str, Any]:
        """Take back the round's last answer (a retraction line in the journal) and ask it
        again next."""
        ctx = self.context
        assert ctx is not None
        with self.lock:
            rnd = self._open_round()
            if not rnd.history:
                raise AskError(409, "nothing to undo in this round")
            item = rnd.history.pop()
            if ctx.retract is not None:
                ctx.retract(item)
            del rnd.answers[item]
            rnd.complete_at = None
            rnd.queue.remove(item)
            rnd.queue.insert(0, item)
            self.changed.notify_all()
            return self.status()

    def stop_round(self) -> dict[str, Any]:
        """End this session: unanswered items stay for ``--resume``."""
        with self.lock:
            rnd = self._open_round()
            rnd.stopped = True
            self.changed.notify_all()
            return self.status()

    def status(self) -> dict[str, Any]:
        """What the page shows: the item to ask (or none) and the round's progress."""
        ctx = self.context
        with self.lock:
            rnd = self.round
            if ctx is None or rnd is None or rnd.closed:
                return {"state": "idle", "item": None, "progress": None, "can_undo": False,
                        "last": None}
            last = rnd.history[-1] if rnd.history else None
            current = None if rnd.stopped else rnd.current()
            state = "stopped" if rnd.stopped else ("asking" if current else "complete")
            return {
                "state": state,
                "item": None if current is None else self._describe(current),
                "progress": {"answered": len(rnd.answers), "total": len(rnd.items),
                             "skipped": len(rnd.skipped - set(rnd.answers))},
                "can_undo": bool(rnd.history) and not rnd.stopped,
                "last": None if last is None else {
                    "item": last, "label": rnd.answers[last],
                    "class": ctx.classes[rnd.answers[last]]},
            }

    def _describe(self, item: str) -> dict[str, Any]:
        ctx = self.context
        rnd = self.round
        assert ctx is not None and rnd is not None
        i = ctx.index[item]
        suggestions = []
        if ctx.probs is not None:
            names = ctx.classifier_names or [str(k) for k in range(len(ctx.probs))]
            for k, name in enumerate(names):
                p = ctx.probs[k, i]
                top = int(np.argmax(p))
                suggestions.append({"classifier": str(name), "label": top,
                                    "class": ctx.classes[top], "confidence": float(p[top])})
        votes = np.zeros(len(ctx.classes))
        if rnd.suggestions is not None and len(rnd.suggestions[rnd.position[item]]):
            votes += np.bincount(np.asarray(rnd.suggestions[rnd.position[item]], dtype=np.int64),
                                 minlength=len(ctx.classes))
        elif ctx.probs is not None:
            votes += np.bincount(ctx.probs[:, i].argmax(1), minlength=len(ctx.classes))
        if ctx.probs is not None:  # a tie goes to the higher mean confidence
            votes += 1e-3 * ctx.probs[:, i].mean(0)
        suggested = int(np.argmax(votes)) if votes.any() else None
        return {
            "id": item,
            "image": None if ctx.images is None else f"/api/image/{item}",
            "features": None if ctx.rows is None else {k: _plain(v)
                                                       for k, v in ctx.rows[i].items()},
            "suggestions": suggestions,
            "suggested": suggested,
        }

    def png(self, item: str) -> bytes:
        ctx = self.context
        if ctx is None or ctx.images is None or item not in ctx.index:
            raise AskError(404, f"no image for item {item!r}")
        with self.lock:
            if item not in self._pngs:
                if len(self._pngs) > 512:
                    self._pngs.clear()
                self._pngs[item] = render_png(ctx.images[ctx.index[item]], self.image_size)
            return self._pngs[item]

    def meta(self) -> dict[str, Any]:
        ctx = self.context
        if ctx is None:
            raise AskError(409, "the run has not started asking yet")
        return {"classes": list(ctx.classes), "keys": shortcuts(ctx.classes),
                "classifiers": list(ctx.classifier_names)}

    # ------------------------------------------------------------------ server
    @property
    def app(self) -> Any:
        """The FastAPI app (built once; Starlette's ``TestClient`` can drive it directly)."""
        if self._app is None:
            self._app = _make_app(self)
        return self._app

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        """Serve :attr:`app` on ``host:port`` in a thread (a no-op when already serving)."""
        if self._thread is not None and self._thread.is_alive():
            return
        import uvicorn

        try:
            family = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)[0][0]
            sock = socket.create_server((self.host, self.port), family=family)
        except OSError as exc:
            raise ConfigError(f"annotator 'web': cannot listen on {self.host}:{self.port} "
                              f"({exc.strerror or exc}); choose another port (--port, 0 for any "
                              "free one)") from None
        self.port = sock.getsockname()[1]  # port 0: keep the one chosen for later rounds
        if not is_loopback(self.host):
            self.announce(f"warning: the labelling page listens on {self.host}, reachable "
                          "from the network, without a login")
        config = uvicorn.Config(self.app, log_config=None, log_level="warning",
                                access_log=False, lifespan="off", timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._socket = sock
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="fx-label-web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RunError(f"annotator 'web': the server on {self.url} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving (answers are all journaled already)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def _label(value: Any, classes: Sequence[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(classes):
        raise AskError(422, f"label {value!r} is not a class index 0..{len(classes) - 1}")
    return int(value)


class _Answer(BaseModel):
    item: str
    label: int


class _Item(BaseModel):
    item: str


def _make_app(ann: WebAnnotator) -> Any:
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    app = FastAPI(title="fx label", docs_url=None, redoc_url=None, openapi_url=None)
    if is_loopback(ann.host):  # a page of another site cannot reach it by DNS rebinding
        app.add_middleware(TrustedHostMiddleware,
                           allowed_hosts=["127.0.0.1", "localhost", "[::1]", "::1",
                                          ann.host])
    page = resources.files("fxcore.label").joinpath("static/label.html").read_text("utf-8")

    def call(fn: Callable[..., dict[str, Any]], *args: Any) -> Any:
        try:
            return fn(*args)
        except AskError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except (RunError, OSError) as exc:  # the journal could not be written: not counted
            return JSONResponse({"error": f"not saved: {exc}"}, status_code=500)

    @app.middleware("http")
    async def same_origin(request: Any, call_next: Any) -> Any:
        """Another site's page in the same browser may not post answers (CSRF)."""
        origin = request.headers.get("origin")
        if request.method != "GET" and origin is not None and (
                origin.split("://", 1)[-1] != request.headers.get("host")):
            return JSONResponse({"error": f"requests from {origin} are refused"},
                                status_code=403)
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse)
    def index() -> Any:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/api/meta")
    def meta() -> Any:
        return call(ann.meta)

    @app.get("/api/next")
    def next_item() -> Any:
        return call(ann.status)

    @app.get("/api/image/{item}")
    def image(item: str) -> Any:
        try:
            return Response(ann.png(item), media_type="image/png",
                            headers={"Cache-Control": "max-age=3600"})
        except AskError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.post("/api/answer")
    def answer(body: _Answer) -> Any:
        return call(ann.answer, body.item, body.label)

    @app.post("/api/skip")
    def skip(body: _Item) -> Any:
        return call(ann.skip, body.item)

    @app.post("/api/undo")
    def undo() -> Any:
        return call(ann.undo)

    @app.post("/api/stop")
    def stop() -> Any:
        return call(ann.stop_round)

    return app
