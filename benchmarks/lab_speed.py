"""How fast ``gankit lab`` trains with the page open, against plain ``gankit train`` on the same config.

Three measurements of training throughput (generator steps per second), alternated ``--rounds`` times
so that a change in the machine's other load hits each alike; the medians are reported:

* ``train``: ``gankit.train`` (the trainer ``gankit train`` runs), timed from its 100th step on by a
  callback;
* ``lab, page open``: the lab's server with its page open in headless Chromium (Playwright), playing;
  steps/s from the engine, frames/s counted by the page itself (frames received and drawn);
* ``lab, nobody watching``: the same engine with no page (frames are made only for watchers).

Goals (docs/performance.md, "gankit lab"): >= 10 frames/s, and the lab costing <= 25 % of training
throughput (lab steps/s >= 0.75 x train steps/s).

    python benchmarks/lab_speed.py                      # ring8, gan-ns, the toy defaults; ~3 minutes
    python benchmarks/lab_speed.py --seconds 10 --rounds 1 --json lab-speed.json
    python benchmarks/lab_speed.py --websocket          # a websocket client instead of Chromium
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import gankit
from gankit.lab.engine import Engine
from gankit.lab.server import LabServer
from gankit.training.config import load_config

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def config(args: argparse.Namespace):
    # the lab's own defaults (gankit/cli/lab.py), so both sides run one config
    return load_config(None, {"data.name": args.data, "loss.name": args.loss, "train.device": "cpu",
                              "train.checkpoint_every": 250, "train.keep_checkpoints": 40})


class StepClock:
    """A callback that times steps after a warm-up, in wall-clock and in this thread's CPU seconds."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.t0, self.t1, self.c0, self.c1, self.s1 = warmup, None, None, None, None, 0

    def on_step(self, trainer) -> None:
        if trainer.step == self.warmup:
            self.t0, self.c0 = time.perf_counter(), time.thread_time()
        self.t1, self.c1, self.s1 = time.perf_counter(), time.thread_time(), trainer.step


def plain_train(args, root: Path) -> dict:
    clock = StepClock(100)
    steps = 100 + int(args.seconds * args.expect_steps_per_s)
    cfg = load_config(None, {**flat(config(args)), "train.steps": steps})
    gankit.train(cfg, out=root / f"train-{time.time_ns()}", log=lambda m: None, callbacks=[clock])
    n = clock.s1 - clock.warmup
    return {"steps_per_s": n / (clock.t1 - clock.t0), "cpu_ms_per_step": 1000 * (clock.c1 - clock.c0) / n}


def descendants_cpu() -> float:
    """CPU seconds (user + system) of this process's child processes (the browser and its driver)."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
    total, todo = 0, list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo += children.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")


class LabClock:
    """Steps, frames and CPU of a running lab between two reads."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.start = self.read()

    def read(self) -> dict:
        e = self.engine
        return {"t": time.perf_counter(), "steps": e.steps_done, "frames": e.frames_made, "cpu_steps": e.cpu_steps,
                "cpu_frames": e.cpu_frames, "process": time.process_time(), "children": descendants_cpu()}

    def result(self) -> dict:
        a, b = self.start, self.read()
        d = {k: b[k] - a[k] for k in a}
        steps = max(d["steps"], 1)
        return {"steps_per_s": d["steps"] / d["t"], "server_frames_per_s": d["frames"] / d["t"],
                "cpu_ms_per_step": 1000 * (d["cpu_steps"] + d["cpu_frames"]) / steps,  # the engine thread
                "frame_share": d["cpu_frames"] / max(d["cpu_steps"] + d["cpu_frames"], 1e-9),
                "process_cpu_ms_per_step": 1000 * d["process"] / steps,
                "browser_cores": d["children"] / d["t"]}


def flat(cfg) -> dict:
    return {f"{section}.{key}": value for section, values in cfg.to_dict().items()
            for key, value in values.items() if value is not None}


def lab_run(args, root: Path, *, watch: str) -> dict:
    engine = Engine(config(args), root / f"lab-{time.time_ns()}", fps=args.fps)
    server = LabServer(engine, port=0)
    url = server.start()
    assert engine.ready.wait(120)
    try:
        if watch == "chromium":
            return measure_chromium(args, server, url)
        if watch == "websocket":
            return measure_websocket(args, server)
        from gankit.lab.controls import Command

        engine.submit(Command("play"))
        time.sleep(2)
        clock = LabClock(engine)
        time.sleep(args.seconds)
        return clock.result()
    finally:
        server.stop()


def measure_chromium(args, server, url) -> dict:
    from playwright.sync_api import sync_playwright

    engine = server.engine
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        while not page.evaluate("window.gankitLab && window.gankitLab.frames > 0"):
            time.sleep(0.1)
        page.click("#play")
        time.sleep(2)
        f0, t0, clock = page.evaluate("window.gankitLab.frames"), time.perf_counter(), LabClock(engine)
        time.sleep(args.seconds)
        out = clock.result()
        f1, t1 = page.evaluate("window.gankitLab.frames"), time.perf_counter()
        frame_bytes = page.evaluate("JSON.stringify(window.gankitLab.frame).length")
        browser.close()
    return {**out, "frames_per_s": (f1 - f0) / (t1 - t0), "frame_bytes": frame_bytes}


def measure_websocket(args, server) -> dict:
    from websockets.sync.client import connect

    engine = server.engine
    with connect(f"ws://127.0.0.1:{server.port}/ws", max_size=None, max_queue=None) as ws:
        ws.send(json.dumps({"cmd": "play"}))
        end = time.monotonic() + 2
        while time.monotonic() < end:
            ws.recv(timeout=5)
        frames, t0, clock = 0, time.perf_counter(), LabClock(engine)
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            if json.loads(ws.recv(timeout=5))["type"] == "frame":
                frames += 1
        out = clock.result()  # process CPU here includes this client's JSON parsing
        t1 = time.perf_counter()
    return {**out, "frames_per_s": frames / (t1 - t0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="ring8")
    parser.add_argument("--loss", default="gan-ns")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fps", type=float, default=12.0)
    parser.add_argument("--expect-steps-per-s", type=float, default=150.0, help="sizes the plain run to about --seconds")
    parser.add_argument("--websocket", action="store_true", help="watch with a websocket client, not Chromium")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    watch = "websocket" if args.websocket else "chromium"
    if watch == "chromium" and not os.path.exists(CHROMIUM):
        print(f"no Chromium at {CHROMIUM}; use --websocket", file=sys.stderr)
        return 2
    results: dict[str, list[dict]] = {"train": [], f"lab ({watch})": [], "lab (nobody watching)": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for r in range(args.rounds):
            results["train"].append(plain_train(args, root))
            results[f"lab ({watch})"].append(lab_run(args, root, watch=watch))
            results["lab (nobody watching)"].append(lab_run(args, root, watch="none"))
            print(f"round {r + 1}: " + "; ".join(f"{k} {v[-1]['steps_per_s']:.1f} steps/s" for k, v in results.items()),
                  flush=True)
    train = statistics.median(x["steps_per_s"] for x in results["train"])
    train_cpu = statistics.median(x["cpu_ms_per_step"] for x in results["train"])
    print(f"\n{args.loss} on {args.data}, load {os.getloadavg()[0]:.2f} at the end, medians of {args.rounds}:")
    print("| run | steps/s | x train | frames/s (page) | CPU ms/step, training thread | x train | "
          "frames' share of it | lab process CPU ms/step | browser CPU (cores) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    summary = {}

    def med(rows, key):
        values = [x[key] for x in rows if key in x]
        return statistics.median(values) if values else None

    def show(value, spec):
        return "-" if value is None else format(value, spec)

    for name, rows in results.items():
        steps, cpu = med(rows, "steps_per_s"), med(rows, "cpu_ms_per_step")
        summary[name] = {"steps_per_s": steps, "ratio": steps / train, "frames_per_s": med(rows, "frames_per_s"),
                         "cpu_ms_per_step": cpu, "cpu_ratio": cpu / train_cpu, "frame_share": med(rows, "frame_share"),
                         "process_cpu_ms_per_step": med(rows, "process_cpu_ms_per_step"),
                         "browser_cores": med(rows, "browser_cores"), "all": rows}
        s_ = summary[name]
        print(f"| {name} | {steps:.1f} | {steps / train:.2f} | {show(s_['frames_per_s'], '.1f')} | {cpu:.2f} | "
              f"{cpu / train_cpu:.2f} | {show(s_['frame_share'], '.1%')} | {show(s_['process_cpu_ms_per_step'], '.2f')} | "
              f"{show(s_['browser_cores'], '.2f')} |")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
