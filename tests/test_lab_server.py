"""The lab's web server on 127.0.0.1, driven by a real HTTP / websocket client.

* the page and its three assets are served (strict CSP, no file names from the client);
* frames flow, controls apply, a bad value gets an error reply and leaves training untouched;
* hostile messages get an error reply and nothing else (hypothesis fuzz over the live socket);
* a frozen, a closed and several open clients never stall training;
* the token and Origin checks, the export route and Ctrl-C.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from gankit.lab import controls as C
from gankit.lab.engine import Engine
from gankit.lab.scenarios import SCENARIOS
from gankit.lab.server import LabServer, is_loopback
from gankit.training.config import load_config

SMALL = {"data.name": "ring8", "model.width": 32, "train.batch_size": 64, "train.device": "cpu",
         "data.n_points": 5000, "train.checkpoint_every": 500}


@pytest.fixture
def lab(tmp_path):
    server = LabServer(Engine(load_config(None, SMALL), tmp_path, fps=20), port=0, token="")
    server.start()
    assert server.engine.ready.wait(60)
    yield server
    server.stop()


def ws_url(server: LabServer, token: str | None = None) -> str:
    return f"ws://127.0.0.1:{server.port}/ws" + (f"?token={token}" if token else "")


def http(server: LabServer, path: str, *, headers: dict | None = None, data: bytes | None = None):
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def messages(ws, seconds: float):
    """Every message received within ``seconds``."""
    out, end = [], time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            out.append(json.loads(ws.recv(timeout=left)))
        except TimeoutError:
            break
    return out


def until(ws, predicate, seconds: float = 60):
    """Messages until one satisfies ``predicate`` (returned)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        msg = json.loads(ws.recv(timeout=end - time.monotonic()))
        if predicate(msg):
            return msg
    raise AssertionError("no such message in time")


def is_frame(step: int = -1):
    return lambda m: m["type"] == "frame" and m["panes"][0]["step"] > step


def test_page_and_assets_are_served_with_a_strict_policy(lab):
    status, headers, body = http(lab, "/")
    assert status == 200 and b'<script src="lab.js">' in body
    assert "default-src 'self'" in headers["Content-Security-Policy"] and headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/lab.js", "/lab.css", "/favicon.svg"):
        assert http(lab, path)[0] == 200
    for path in ("/../pyproject.toml", "/static/lab.js", "/lab.py", "/%2e%2e/etc/passwd", "/index.html"):
        assert http(lab, path)[0] == 404
    assert http(lab, "/", headers={"Host": "attacker.example"})[0] == 421  # DNS rebinding


def test_frames_flow_and_controls_apply(lab):
    with connect(ws_url(lab), max_size=None) as ws:
        hello = json.loads(ws.recv(timeout=30))
        assert hello["type"] == "hello" and set(hello["controls"]) == set(C.CONTROLS)
        assert [s["name"] for s in hello["scenarios"]] == list(SCENARIOS)
        ws.send(json.dumps({"cmd": "play", "id": 1}))
        frame = until(ws, is_frame(10))
        pane = frame["panes"][0]
        for field in ("real", "fake", "arrows", "heat", "dstar", "mesh", "mesh_density"):
            assert pane[field]["dtype"] == "f32"
        assert frame["playing"] and pane["heat_kind"] == "D(x)"
        ws.send(json.dumps({"cmd": "set", "values": {"lr_g": -1}, "id": 2}))
        reply = until(ws, lambda m: m["type"] != "frame")
        assert reply == {"type": "error", "id": 2, "message": "loss.lr_g must be > 0; got -1.0"}
        later = until(ws, is_frame(pane["step"] + 5))  # training went on, untouched
        assert later["panes"][0]["settings"]["lr_g"] == pane["settings"]["lr_g"]
        assert later["panes"][0]["run"] == pane["run"]
        ws.send(json.dumps({"cmd": "set", "values": {"lr_d": 0.0005}, "id": 3}))  # live: same run
        assert until(ws, lambda m: m["type"] != "frame") == {"type": "ok", "id": 3, "cmd": "set"}
        live = until(ws, lambda m: m["type"] == "frame" and m["panes"][0]["settings"]["lr_d"] == 0.0005)
        assert live["panes"][0]["run"] == pane["run"]
        ws.send(json.dumps({"cmd": "set", "values": {"loss": "wgan-gp"}, "id": 4}))  # a new run
        fresh = until(ws, lambda m: m["type"] == "frame" and m["panes"][0]["loss"] == "wgan-gp")
        assert fresh["panes"][0]["heat_kind"] == "f(x)" and fresh["panes"][0]["settings"]["d_steps"] == 5


def hostile_text():
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12)
    commands = st.sampled_from(sorted(C.COMMANDS))
    return st.one_of(
        st.text(max_size=300),
        json_values.map(lambda v: json.dumps(v, allow_nan=True)),
        st.fixed_dictionaries({"cmd": commands | st.text(max_size=12)},
                              optional={"values": json_values, "value": json_values, "points": json_values,
                                        "name": json_values, "pane": json_values, "file": json_values}).map(json.dumps),
        st.fixed_dictionaries({"cmd": st.just("set"), "values": st.dictionaries(
            st.sampled_from(sorted(C.CONTROLS)), json_values, min_size=1, max_size=2)}).map(json.dumps),
    )


def test_fuzz_hostile_messages_get_an_error_reply_and_nothing_else(lab):
    engine = lab.engine
    configs, extent = engine.state()
    with connect(ws_url(lab), max_size=None) as ws:
        until(ws, is_frame(-1))  # hello, then the first frame; the lab stays paused
        messages(ws, 0.5)
        before = (engine.steps_done, [c.to_json() for c in engine.configs], engine.playing, engine.frames_made)

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(hostile_text())
        def one(text):
            try:
                C.validate_command(C.parse_message(text), configs=configs, extent=extent, scenarios=SCENARIOS)
            except C.LabError:
                pass
            else:
                assume(False)  # a valid command would (rightly) act; the fuzz sends only hostile ones
            ws.send(text)
            reply = json.loads(ws.recv(timeout=30))
            assert reply["type"] == "error" and reply["message"]

        one()
        assert messages(ws, 0.5) == []  # nothing else: no frame, no second reply
        after = (engine.steps_done, [c.to_json() for c in engine.configs], engine.playing, engine.frames_made)
        assert after == before
        ws.send(json.dumps({"cmd": "step", "id": 9}))  # the connection and the lab still work
        assert until(ws, lambda m: m["type"] == "ok")["id"] == 9
        assert until(ws, is_frame(0))["panes"][0]["step"] == 1


def test_binary_oversized_and_giant_messages(lab):
    with connect(ws_url(lab), max_size=None) as ws:
        ws.recv(timeout=30)
        ws.send(b"\x00\x01binary")
        assert until(ws, lambda m: m["type"] == "error")["message"].startswith("send text messages")
        ws.send(json.dumps({"cmd": "play", "pad": "x" * (C.MAX_MESSAGE_BYTES + 10)}))
        assert "too large" in until(ws, lambda m: m["type"] == "error")["message"]
        ws.send("x" * (2 << 20))  # beyond the transport's limit: uvicorn closes with 1009
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert lab.engine.steps_done == 0  # none of it touched the lab


def raw_client(port: int, *, path: str = "/ws", rcvbuf: int = 4096) -> socket.socket:
    """A websocket handshake over a bare socket that then never reads (a frozen tab)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0]
    return sock


def test_frozen_closed_and_many_clients_never_stall_training(lab):
    lab.lab.send_timeout = 1.0
    frozen = raw_client(lab.port)
    with contextlib.ExitStack() as stack:
        # open tabs read everything (max_queue=None), as a browser does
        tabs = [stack.enter_context(connect(ws_url(lab), max_size=None, max_queue=None)) for _ in range(3)]
        tabs[0].send(json.dumps({"cmd": "play"}))
        gone = raw_client(lab.port)
        gone.close()  # a tab closed without a goodbye
        seen = [[m["seq"] for m in messages(ws, 1.0) if m["type"] == "frame"] for ws in tabs]
        start, t0 = lab.engine.steps_done, time.monotonic()
        time.sleep(3)
        seqs = [[m["seq"] for m in messages(ws, 0.5) if m["type"] == "frame"] for ws in tabs]
        rate = (lab.engine.steps_done - start) / (time.monotonic() - t0)
        assert rate > 10, f"training crawled at {rate:.1f} steps/s"
        for before, after in zip(seen, seqs, strict=True):
            assert after and after == sorted(after) and max(after) > max(before, default=0)
        # the frozen client is dropped once its buffers fill and a send times out; the closed one at once
        end = time.monotonic() + 30
        while len(lab.lab.clients) > 3 and time.monotonic() < end:
            time.sleep(0.2)
        assert len(lab.lab.clients) == 3
        assert lab.engine.bus.watchers == 3
    frozen.close()


def test_token_and_origin_are_checked(tmp_path):
    server = LabServer(Engine(load_config(None, SMALL), tmp_path), token="s3cret-token")
    server.start()
    try:
        assert server.url.endswith("/?token=s3cret-token")
        assert http(server, "/")[0] == 403 and http(server, "/?token=wrong")[0] == 403
        assert http(server, "/?token=s3cret-token")[0] == 200
        with pytest.raises((InvalidStatus, ConnectionClosed)):
            with connect(ws_url(server)) as ws:
                ws.recv(timeout=10)
        with connect(ws_url(server, "s3cret-token"), max_size=None) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "hello"
        with pytest.raises((InvalidStatus, ConnectionClosed)):  # another site's page may not drive the lab
            with connect(ws_url(server, "s3cret-token"), origin="http://evil.example") as ws:
                ws.recv(timeout=10)
        origin = f"http://127.0.0.1:{server.port}"
        with connect(ws_url(server, "s3cret-token"), origin=origin, max_size=None) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "hello"
    finally:
        server.stop()
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")


def png(colour: str) -> str:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def test_export_turns_recorded_frames_into_a_gif(lab):
    body = json.dumps({"frames": [png("red"), png("blue")], "ms": 100}).encode()
    status, headers, gif = http(lab, "/export.gif", data=body, headers={"Content-Type": "application/json"})
    assert status == 200 and headers["Content-Type"] == "image/gif" and gif.startswith(b"GIF89a")
    image = Image.open(io.BytesIO(gif))
    assert image.n_frames == 2 and image.size == (40, 30)
    bad = json.dumps({"frames": ["data:image/png;base64,AAAA"]}).encode()
    assert http(lab, "/export.gif", data=bad)[0] == 400
    assert http(lab, "/export.gif", data=b"{}", headers={"Origin": "http://evil.example"})[0] == 403
    too_big = http(lab, "/export.gif", data=b"x", headers={"Content-Length": str(10**9)})
    assert too_big[0] == 413


@pytest.mark.slow
def test_the_command_serves_and_ctrl_c_stops_it_cleanly(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "lab", "--no-browser", "--port", "0", "--runs",
                             str(tmp_path), "--set", "model.width=32", "--set", "data.n_points=5000"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        seen = []
        while not (seen and seen[-1].startswith("gankit lab: http://")) and len(seen) < 20:
            line = proc.stdout.readline()
            assert line, f"gankit lab exited early: {''.join(seen)}"
            seen.append(line)
        assert seen[-1].startswith("gankit lab: http://127.0.0.1:"), "".join(seen)
        url = seen[-1].split()[-1]
        with connect(url.replace("http", "ws") + "ws", max_size=None) as ws:
            ws.recv(timeout=60)
            ws.send(json.dumps({"cmd": "play"}))
            until(ws, is_frame(20), seconds=120)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "gankit lab: wrote" in out and "stopped" in out and "Traceback" not in out
    (run,) = [p for p in Path(tmp_path).iterdir() if p.name.startswith("lab-0000-gan-ns-ring8")]
    assert (run / "generator.safetensors").is_file() and (run / "checkpoints" / "latest").is_file()
