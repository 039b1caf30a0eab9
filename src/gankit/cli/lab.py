"""``gankit lab``: watch and steer the GAN game live in the browser, driven by gankit's own trainer.

Starts a local web server (Starlette on uvicorn) and prints its URL; the page shows real and
generated points, D or the critic over the plane, the generator's gradient arrows, the optimal D*,
G's manifold and the curves, and steers loss, K, rates, lambda, c, batch, noise and data live.
Every run it trains is an ordinary run folder under ``--runs``. See docs/lab.md.
"""

from __future__ import annotations

import argparse
import sys
import threading
import webbrowser

from gankit.errors import ConfigError
from gankit.training.config import choices, load_config, parse_assignment, set_value

TOY_NAMES = ("ring8", "grid25", "swissroll")  # gankit.data.TOY_NAMES, without importing torch for --help

HELP = "watch and steer a 2-D GAN live in the browser: a local page driven by gankit's own trainer"

# the lab's own defaults (a preset or --set overrides them): checkpoints often enough for --replay
LAB_DEFAULTS = {"train.checkpoint_every": 250, "train.keep_checkpoints": 40}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", choices=TOY_NAMES, help="the toy data set (default ring8, or the preset's)")
    parser.add_argument("--loss", choices=choices("loss.name"), help="the objective (default gan-ns, or the preset's)")
    parser.add_argument("--config", metavar="PRESET", help="a YAML preset: a file, or a shipped name (toy-ring8, toy-grid25)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="set any config key, e.g. --set loss.lr_g=1e-3 (repeatable)")
    parser.add_argument("--seed", type=int, help="seed of both panes (train.seed)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; any other host requires the printed token)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free port)")
    parser.add_argument("--no-browser", action="store_true", help="print the URL only; do not open a browser")
    parser.add_argument("--runs", default="runs", help="parent of the lab's run folders (default: runs)")
    parser.add_argument("--replay", metavar="RUN", help="show a finished run folder, one frame per checkpoint")
    parser.add_argument("--fps", type=float, default=12.0, help="most frames per second sent to the page (default 12)")


def lab_config(args: argparse.Namespace):
    """The first pane's requested config: preset, the lab's defaults, then flags and --set; validated."""
    settings: dict[str, object] = {} if args.config else {"data.name": "ring8"}
    settings.update(LAB_DEFAULTS)
    for flag, key in (("data", "data.name"), ("loss", "loss.name"), ("seed", "train.seed")):
        if getattr(args, flag) is not None:
            settings[key] = getattr(args, flag)
    for assignment in args.set:
        key, value = parse_assignment(assignment)
        settings[key] = value
    cfg = load_config(args.config, settings)
    if cfg.data.name not in TOY_NAMES:
        raise ConfigError(f"gankit lab trains 2-D points; data must be one of {', '.join(TOY_NAMES)}, "
                          f"not {cfg.data.name}")
    if cfg.model.name not in (None, "mlp"):
        raise ConfigError(f"gankit lab trains the toy MLP; drop model.name {cfg.model.name}")
    if cfg.loss.reuse_fake:
        raise ConfigError("gankit lab steps D and G one at a time (slow motion) and lets K change live, so each G "
                          "update draws fresh codes; drop loss.reuse_fake")
    set_value(cfg, "train.device", "cpu")  # frames are computed beside the trainer, on the CPU
    set_value(cfg, "train.compile", "off")
    set_value(cfg, "train.cuda_graph", "off")  # the lab steps phases one at a time; it never replays a whole step
    return cfg


def run(args: argparse.Namespace) -> int:
    from gankit.lab.controls import LAB_LIMITS
    from gankit.lab.engine import Engine
    from gankit.lab.replay import ReplayPane, read_run
    from gankit.lab.server import LabServer

    if not 1 <= args.fps <= 60:
        raise ConfigError("--fps must be in [1, 60]")
    if not 0 <= args.port <= 65535:
        raise ConfigError("--port must be in [0, 65535]")
    if args.replay:
        cfg, _, _ = read_run(args.replay)  # one-line errors before anything starts
        engine = Engine(cfg, args.runs, fps=args.fps, replay=True, speed=2.0,
                        make_panes=lambda configs, drawn: [ReplayPane(args.replay)])
    else:
        cfg = lab_config(args)
        for name, key in (("batch_size", "train.batch_size"), ("d_steps", "loss.d_steps")):
            value = getattr(getattr(cfg, key.split(".")[0]), key.split(".")[1])
            low, high = LAB_LIMITS[name]
            if value is not None and not low <= value <= high:
                raise ConfigError(f"{key} must be in [{low:g}, {high:g}] in the lab; got {value}")
        engine = Engine(cfg, args.runs, fps=args.fps)
    server = LabServer(engine, host=args.host, port=args.port)
    print(f"gankit lab: {server.url}", flush=True)
    if server.token:
        print("gankit lab: listening beyond this machine; the page, websocket and export need the token in that URL",
              flush=True)
    print(f"gankit lab: {'replaying ' + args.replay if args.replay else 'runs go to ' + args.runs + '/lab-NNNN-...'}; "
          "Ctrl-C stops", flush=True)
    if not args.no_browser:
        threading.Timer(0.5, webbrowser.open, [server.url]).start()
    try:
        written = server.serve()
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled, after its clean shutdown
        written = engine.stop()
    for folder in written:
        print(f"gankit lab: wrote {folder}", flush=True)
    print("gankit lab: stopped", file=sys.stderr, flush=True)
    return 0
