"""``gankit bench``: how much faster than the classic DCGAN loop gankit trains, on this device."""

from __future__ import annotations

import argparse

from gankit.errors import ConfigError

HELP = "time the classic DCGAN loop, gankit's trainer and gankit at its best batch size on one device"

MODELS = ("dcgan", "mlp")


def _batch_list(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated batch sizes like 128,256,512, got '{text}'") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be >= 1, got '{text}'")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"), help="auto | cpu | cuda | mps (default auto: cuda if present)")
    parser.add_argument("--model", default="dcgan", choices=MODELS, help="dcgan (default) or the toy mlp")
    parser.add_argument("--image-size", type=int, help="image side (default 64; --quick on a CPU: 32)")
    parser.add_argument("--width", type=int, help="DCGAN base width (default 64, the paper's is 128; --quick on a CPU: 32)")
    parser.add_argument("--batch-size", type=int, help="batch of (a) and (b) (default 128; --quick on a CPU: 64)")
    parser.add_argument("--channels", type=int, default=3, choices=(1, 3), help="image channels (default 3)")
    parser.add_argument("--sweep", type=_batch_list, help="batch sizes tried for (c), e.g. 128,512,2048")
    parser.add_argument("--precision", default="auto", help="gankit's train.precision: auto | fp32 | bf16 | fp16")
    parser.add_argument("--channels-last", default="auto", help="gankit's train.channels_last: auto | true | false")
    parser.add_argument("--compile", default="off", help="gankit's train.compile: off | model | step")
    parser.add_argument("--cuda-graph", default="auto",
                        help="gankit's train.cuda_graph for the graph row and the sweep: auto | on | off (CUDA only)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for every loop (default: gankit's choice)")
    parser.add_argument("--quick", action="store_true", help="short timings and a small sweep (under a minute on 2 CPU cores)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON")


def run(args: argparse.Namespace) -> int:
    from gankit.bench.runner import BenchOptions, format_report, run_bench, write_json
    from gankit.training.config import choices

    for flag, value, key in (("--precision", args.precision, "train.precision"),
                             ("--channels-last", args.channels_last, "train.channels_last"),
                             ("--compile", args.compile, "train.compile"),
                             ("--cuda-graph", args.cuda_graph, "train.cuda_graph")):
        if value not in choices(key):
            raise ConfigError(f"{flag} must be one of {', '.join(choices(key))}; got '{value}'")
    for flag, value in (("--image-size", args.image_size), ("--width", args.width), ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be >= 1; got {value}")
    if args.threads < 0:
        raise ConfigError(f"--threads must be >= 0 (0 lets gankit choose); got {args.threads}")
    opts = BenchOptions(device=args.device, model=args.model, image_size=args.image_size, width=args.width,
                        batch_size=args.batch_size, channels=args.channels, quick=args.quick, precision=args.precision,
                        channels_last=args.channels_last, compile=args.compile, cuda_graph=args.cuda_graph,
                        threads=args.threads, sweep=args.sweep)
    result = run_bench(opts, log=lambda message: print(f"gankit bench: {message}", flush=True))
    print(format_report(result))
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    return 0
