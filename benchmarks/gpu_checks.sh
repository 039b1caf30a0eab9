#!/usr/bin/env bash
# The GPU checks of a device session, in stages that each fit one call (an H100 or H200).
#
# Run from the repository root on a CUDA machine whose python3 has torch, torchmetrics, scipy,
# scikit-learn, safetensors, PyYAML and matplotlib (gankit itself runs from src/, uninstalled):
#
#   OUT=gpu-out bash benchmarks/gpu_checks.sh tests bench64   # CUDA tests + the width-64 bench (about 2 min)
#   OUT=gpu-out bash benchmarks/gpu_checks.sh speed           # width-128 bench, graph-vs-eager quality, FID speed (about 5 min)
#   OUT=gpu-out bash benchmarks/gpu_checks.sh                 # everything
#
# Data and a trained Fashion-MNIST classifier come from .devdata/ (ignored by git):
#   .devdata/data/fashion-mnist/*.gz          (a copy of /usr/share/datasets/fashion-mnist)
#   .devdata/cache/evaluators/fashion-mnist-32.safetensors   (gankit evaluator train --data fashion-mnist)
# Each check has its own time limit, so one overrun does not cost the others; everything is logged
# to $OUT/checks.log, and the benchmark JSON and Markdown land in $OUT.
set -u
STAGES=" ${*:-tests bench64 speed} "
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
export GANKIT_CACHE=$PWD/.devdata/cache GANKIT_DATA=$PWD/.devdata/data
LOG=$OUT/checks.log
py=python3

check() {  # check NAME SECONDS COMMAND...: run with a time limit, log everything, show the tail
    local name=$1 limit=$2 start=$SECONDS
    shift 2
    echo "=== $name: $* ($(date +%T))" >>"$LOG"
    timeout "$limit" "$@" >>"$LOG" 2>&1
    local rc=$?
    echo "=== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$LOG"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
    $py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
} 2>&1 | tee -a "$LOG"

if [[ $STAGES == *" tests "* ]]; then
    # the CUDA tests: graph vs eager, kill and resume, no sync in replays, the fallback; bench checks
    check tests 120 $py -m pytest -q -rs -p no:cacheprovider -m "not slow" tests/test_cudagraph.py \
        tests/test_fastpath.py tests/test_bench.py
fi

if [[ $STAGES == *" bench64 "* ]]; then
    # training speed, 64x64 DCGAN width 64: reference, eager, CUDA graph at batch 128, then the graph's sweep
    check bench-w64 110 $py -m gankit bench --device cuda --quick --json "$OUT/bench-w64.json"
fi

if [[ $STAGES == *" speed "* ]]; then
    # the paper's width: the sweep runs until images/s stops rising
    check bench-w128 100 $py -m gankit bench --device cuda --quick --width 128 --json "$OUT/bench-w128.json"
    # the graph trains as well as eager: Fashion-MNIST, 3,000 steps, 3 seeds each, 6 runs at once
    check quality 200 $py benchmarks/graph_quality.py --device cuda --runs /tmp/gq --timeout 150 \
        --json "$OUT/graph_quality.json" --out "$OUT/graph_quality.md"
    # FID of 50,000 samples against the training set, generation included
    run=/tmp/gq/on-s0
    [[ -f $run/generator.safetensors ]] || run=
    check fid 100 $py benchmarks/fid_speed.py --device cuda --n 50000 --n-real 60000 --repeats 2 ${run:+--run $run} \
        --json "$OUT/fid_speed.json"
fi
sed -n '/=== fid: python3/,$p' "$LOG" | grep -v "^===" | tail -n 25
grep -E "^(===|FID|gankit bench: warning|\(a\)|\(b\)|\(c\)|sweep|gankit:|physical|[0-9]+ (passed|failed)|FAILED|ERROR|SKIPPED|\| )" "$LOG" | tail -n 80
