"""Throughput benchmark: the classic DCGAN loop against gankit's trainer, on one device.

* :mod:`~gankit.bench.reference`: the classic pytorch/examples-style loop (the baseline);
* :mod:`~gankit.bench.flops`: hand FLOP counts of layers, step counts via ``FlopCounterMode``,
  peak rates of known GPUs;
* :mod:`~gankit.bench.runner`: :func:`run_bench` measures and :func:`format_report` prints.

``gankit bench`` is the command line; ``docs/performance.md`` holds the method and the numbers.
"""

from gankit.bench.flops import (
    PEAK_TFLOPS,
    conv2d_flops,
    conv_transpose2d_flops,
    count_flops,
    dcgan_forward_flops,
    images_per_second_limit,
    linear_flops,
    peak_tflops,
)
from gankit.bench.reference import ReferenceLoop
from gankit.bench.runner import BenchOptions, format_report, run_bench, write_json

__all__ = [
    "PEAK_TFLOPS", "BenchOptions", "ReferenceLoop", "conv2d_flops", "conv_transpose2d_flops", "count_flops",
    "dcgan_forward_flops", "format_report", "images_per_second_limit", "linear_flops", "peak_tflops", "run_bench",
    "write_json",
]
