#!/usr/bin/env bash
# The GPU checks of one device session, in one call (about 9 minutes on an H100 / H200).
#
# Run from the repository root on a CUDA machine whose python3 has torch, torchmetrics, scipy,
# scikit-learn, safetensors, PyYAML and matplotlib (gankit itself runs from src/, uninstalled):
#
#   OUT=gpu-out bash benchmarks/gpu_checks.sh
#
# Data and a trained Fashion-MNIST classifier come from .devdata/ (ignored by git):
#   .devdata/data/fashion-mnist/*.gz          (a copy of /usr/share/datasets/fashion-mnist)
#   .devdata/cache/evaluators/fashion-mnist-32.safetensors   (gankit evaluator train --data fashion-mnist)
# Each check has its own time limit, so one overrun does not cost the others; everything is logged
# to $OUT/checks.log, and the benchmark JSON and the Fashion-MNIST table land in $OUT.
set -u
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

# 1. the CUDA tests (the no-sync hot loop under torch.cuda.set_sync_debug_mode("error"), bench checks)
check tests 100 $py -m pytest -q -p no:cacheprovider -m "not slow" tests/test_fastpath.py tests/test_bench.py

# 2. Fashion-MNIST rows of docs/results.md: DCGAN gan-ns and WGAN-GP, 3 seeds, scored on 10,000 samples
check fashion-mnist 300 $py benchmarks/quality.py --data "" --image-losses --image-seeds 3 --image-steps 3000 \
    --device cuda --set model.width=64 --set train.batch_size=128 --out "$OUT/results-images.md" --runs /tmp/quality-runs

# 3. training speed against the pytorch/examples-style reference loop (docs/performance.md)
check bench-w64 60 $py -m gankit bench --device cuda --quick --json "$OUT/bench-w64.json"
check bench-w128 60 $py -m gankit bench --device cuda --quick --width 128 --json "$OUT/bench-w128.json"

# 4. DDP through torchrun on NCCL (one GPU: one rank), SyncBatchNorm on; against a plain single process
check nccl-ddp 60 $py -m gankit train --nproc 1 --data digits --device cuda --steps 30 --precision fp32 \
    --set model.width=16 --set train.sync_bn=true --out /tmp/ddp-nccl
check single 40 $py -m gankit train --data digits --device cuda --steps 30 --precision fp32 \
    --set model.width=16 --out /tmp/ddp-none
check compare 20 $py - <<'EOF'
from gankit.training import checkpoint
a, b = (checkpoint.load(f"/tmp/{run}/checkpoints/step_0000030.ckpt") for run in ("ddp-nccl", "ddp-none"))
for net in ("G", "D"):
    diff = max(float((a[net][k].double() - b[net][k].double()).abs().max()) for k in a[net])
    print(f"{net}: max |torchrun+NCCL+SyncBN - single process| = {diff:.3g}")
EOF
grep -E "^(===|G:|D:|fashion-mnist|\(a\)|\(b\)|\(c\)|sweep|gankit|reference)" "$LOG" | tail -n 60
