"""The lab's web server: one page, three static files, one websocket, one export route.

Built on Starlette (routing, websockets) served by uvicorn (asyncio, the ``websockets`` protocol):
small, well-kept and typed, with the websocket support the lab needs and nothing it does not.
The server computes nothing itself: the :class:`~gankit.lab.engine.Engine` thread trains and makes
frames; the server validates messages, queues commands and forwards the newest frame.

Security (docs/lab.md, "Security"):

* binds 127.0.0.1 by default; any other host requires the random token printed at start
  (``?token=...`` on the page, the websocket and the export);
* the Host header must name the bound host (no DNS rebinding) and a websocket's Origin must be
  the page's own (no other site can drive the lab);
* every message is size-limited (:data:`~gankit.lab.controls.MAX_MESSAGE_BYTES`; uvicorn drops a
  connection whose frame exceeds :data:`WS_MAX_SIZE`) and validated with the config's rules;
* the page can never name a file: the static files are a fixed dict, and run folders are chosen
  on the command line only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import secrets
import socket
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from gankit.errors import GankitError
from gankit.lab import scenarios as S
from gankit.lab.controls import (
    CONTROLS,
    LAB_LIMITS,
    MAX_DRAWN_POINTS,
    MAX_MESSAGE_BYTES,
    MIN_DRAWN_POINTS,
    LabError,
    message_id,
    parse_message,
    validate_command,
)
from gankit.lab.engine import Engine, to_json
from gankit.lab.export import MAX_EXPORT_BYTES, ExportError, gif_from_frames
from gankit.training.config import choices, declared

MAX_CLIENTS = 16
WS_MAX_SIZE = 1 << 20  # uvicorn closes a connection (code 1009) on a bigger websocket message
SEND_TIMEOUT_S = 10.0  # a client that takes longer to take one message is disconnected
OUTBOX = 32  # replies waiting for a client; a client that lets more pile up is disconnected
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
STATIC = {  # the only files the server reads: name -> (file, media type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/lab.js": ("lab.js", "text/javascript; charset=utf-8"),
    "/lab.css": ("lab.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
                               "style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def controls_spec() -> dict[str, Any]:
    """What the page needs to draw each control: its config key, choices or bounds, and help text."""
    out = {}
    for name, key in CONTROLS.items():
        k = declared(key)
        spec: dict[str, Any] = {"key": key, "doc": k.meta["doc"]}
        if k.choices is not None:
            spec["choices"] = list(choices(key))
        else:
            spec.update(low=k.meta["low"], low_open=k.meta["low_open"], high=k.meta["high"])
        if name in LAB_LIMITS:
            spec["lab_limits"] = list(LAB_LIMITS[name])
        out[name] = spec
    out["data"]["choices"] = ["ring8", "grid25", "swissroll"]
    return out


@dataclass
class Client:
    """One websocket watcher: its outbox of replies and the frame version it last got."""

    ws: WebSocket
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    replies: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=OUTBOX))
    sent: int = 0


class LabApp:
    """The Starlette app around an engine.

    Args:
        engine: the running lab.
        host: the bound host (the Host header must name it; loopback names are interchangeable).
        token: required on the page, websocket and export when set (any non-loopback host).
    """

    def __init__(self, engine: Engine, *, host: str = "127.0.0.1", token: str | None = None) -> None:
        self.engine, self.host, self.token = engine, host, token
        self.send_timeout = SEND_TIMEOUT_S
        self.clients: set[int] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        routes = [Route(path, self.static) for path in STATIC]
        routes += [WebSocketRoute("/ws", self.websocket), Route("/export.gif", self.export, methods=["POST"])]
        self.app = Starlette(routes=routes)

    # ---------------------------------------------------------------------------- checks
    def _host_ok(self, headers: Any) -> bool:
        host = headers.get("host", "")
        name = urlsplit(f"//{host}").hostname or ""
        if self.token is not None:
            return True  # the token protects a non-loopback lab; any name may reach it
        return is_loopback(name)

    def _token_ok(self, params: Any) -> bool:
        if self.token is None:
            return True
        given = params.get("token", "")
        return isinstance(given, str) and hmac.compare_digest(given.encode(), self.token.encode())

    def _origin_ok(self, headers: Any) -> bool:
        origin = headers.get("origin")
        if origin is None:  # not a browser (a script, a test client): the Host and token checks apply
            return True
        return urlsplit(origin).netloc == headers.get("host", "")

    def _refusal(self, request: Request) -> Response | None:
        if not self._host_ok(request.headers):
            return Response("unknown host\n", status_code=421, headers=HEADERS)
        if not self._token_ok(request.query_params):
            return Response("this lab needs its token: open the URL 'gankit lab' printed\n", status_code=403,
                            headers=HEADERS)
        return None

    # ---------------------------------------------------------------------------- routes
    async def static(self, request: Request) -> Response:
        name, media = STATIC[request.url.path]
        if name == "index.html" and (refusal := self._refusal(request)) is not None:
            return refusal
        if not self._host_ok(request.headers):
            return Response("unknown host\n", status_code=421, headers=HEADERS)
        body = resources.files("gankit.lab").joinpath("static", name).read_bytes()
        return Response(body, media_type=media, headers=HEADERS)

    async def export(self, request: Request) -> Response:
        """POST the page's recorded frames (JSON, at most MAX_EXPORT_BYTES); answers an animated GIF."""
        if (refusal := self._refusal(request)) is not None:
            return refusal
        if not self._origin_ok(request.headers):
            return Response("cross-origin export refused\n", status_code=403, headers=HEADERS)
        size = request.headers.get("content-length")
        if size is None or not size.isdigit() or int(size) > MAX_EXPORT_BYTES:
            return JSONResponse({"error": f"send at most {MAX_EXPORT_BYTES} bytes with a Content-Length"},
                                status_code=413, headers=HEADERS)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_EXPORT_BYTES:
                return JSONResponse({"error": "export too large"}, status_code=413, headers=HEADERS)
        try:
            gif = await asyncio.get_running_loop().run_in_executor(None, gif_from_frames, body)
        except ExportError as err:
            return JSONResponse({"error": str(err)}, status_code=400, headers=HEADERS)
        return Response(gif, media_type="image/gif",
                        headers={**HEADERS, "Content-Disposition": 'attachment; filename="gankit-lab.gif"'})

    def hello(self) -> dict[str, Any]:
        configs, extent = self.engine.state()
        return {
            "type": "hello", "replay": self.engine.replay, "extent": list(extent), "fps": self.engine.fps,
            "controls": controls_spec(), "scenarios": [S.public(name) for name in S.SCENARIOS],
            "limits": {"message_bytes": MAX_MESSAGE_BYTES, "drawn_points": [MIN_DRAWN_POINTS, MAX_DRAWN_POINTS],
                       "export_bytes": MAX_EXPORT_BYTES},
        }

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        """One websocket message -> the reply (``ok`` or ``error``); a valid command is queued for the engine."""
        if "text" not in message or message.get("text") is None:
            return {"type": "error", "id": None, "message": "send text messages holding one JSON object"}
        obj = None
        try:
            obj = parse_message(message["text"])
            configs, extent = self.engine.state()
            command = validate_command(obj, configs=configs, extent=extent, scenarios=S.SCENARIOS,
                                       replay=self.engine.replay)
            self.engine.submit(command)
        except GankitError as err:
            return {"type": "error", "id": message_id(obj), "message": str(err)[:500]}
        return {"type": "ok", "id": message_id(obj), "cmd": command.cmd}

    async def websocket(self, ws: WebSocket) -> None:
        if not (self._host_ok(ws.headers) and self._token_ok(ws.query_params) and self._origin_ok(ws.headers)):
            await ws.close(code=1008)
            return
        if len(self.clients) >= MAX_CLIENTS:
            await ws.close(code=1013)
            return
        await ws.accept()
        client = Client(ws)
        loop = asyncio.get_running_loop()
        token = self.engine.bus.watch(lambda: loop.call_soon_threadsafe(client.wake.set))
        self.clients.add(token)
        client.replies.put_nowait(self.hello())
        client.wake.set()
        tasks = {asyncio.create_task(self._reader(client)), asyncio.create_task(self._writer(client))}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.engine.bus.unwatch(token)
            self.clients.discard(token)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # a frozen client never takes the close frame either: give up on it after a second
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 1.0)

    async def _reader(self, client: Client) -> None:
        """Validate each message, queue its command, answer ``ok`` or ``error``; returns when the client goes."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            while True:
                message = await client.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                try:
                    client.replies.put_nowait(self.handle(message))
                except asyncio.QueueFull:  # it sends but does not read its replies: let it go
                    return
                client.wake.set()

    async def _writer(self, client: Client) -> None:
        """Send replies, then the newest frame; returns when a send takes longer than ``send_timeout``."""
        with contextlib.suppress(asyncio.TimeoutError, WebSocketDisconnect, RuntimeError, OSError):
            while True:
                await client.wake.wait()
                client.wake.clear()
                while not client.replies.empty():
                    reply = to_json(client.replies.get_nowait())
                    await asyncio.wait_for(client.ws.send_text(reply), self.send_timeout)
                version, text = self.engine.bus.latest()
                if text is not None and version != client.sent:
                    client.sent = version
                    await asyncio.wait_for(client.ws.send_text(text), self.send_timeout)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise LabError(f"cannot listen on {host}:{port} ({err.strerror or err}); choose another --port or --host") from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


class LabServer:
    """An engine, its app and a uvicorn server on one socket: ``serve()`` blocks, ``start()`` runs in a thread.

    Args:
        engine: the lab (not yet started; the server starts and stops it).
        host, port: where to listen (port 0: a free port).
        token: ``None`` picks one when ``host`` is not loopback; ``""`` never (tests only).
    """

    def __init__(self, engine: Engine, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> None:
        self.engine, self.host = engine, host
        if token is None:
            token = None if is_loopback(host) else secrets.token_urlsafe(18)
        self.token = token or None
        self.sock = bind(host, port)
        self.port = self.sock.getsockname()[1]
        self.lab = LabApp(engine, host=host, token=self.token)
        config = uvicorn.Config(self.lab.app, log_level="warning", ws="websockets-sansio", ws_max_size=WS_MAX_SIZE,
                                ws_ping_interval=20.0, ws_ping_timeout=20.0, lifespan="off",
                                timeout_graceful_shutdown=3)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    def serve(self) -> list:
        """Run until Ctrl-C (uvicorn stops on SIGINT / SIGTERM); returns the run folders written."""
        self.engine.start()
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()
            written = self.engine.stop()
        return written

    def start(self) -> str:
        """Serve from a background thread (tests, benchmarks); returns the URL once it accepts connections."""
        self.engine.start()
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True,
                                        name="gankit-lab-server")
        self._thread.start()
        for _ in range(500):
            if self.server.started:
                break
            threading.Event().wait(0.01)
        return self.url

    def stop(self) -> list:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.sock.close()
        return self.engine.stop()
