#!/usr/bin/env bash
# Does training on a GPU give the CPU's model? PatchCore and STFPM on MVTec bottle, each trained with
# --device cuda and --device cpu (default settings, seed 0), compared with benchmarks/compare_runs.py
# (AUROC to 3 decimals, bank and weights within the tolerances in docs/gpu.md), fit times recorded on both.
#
#   EDGEAD_DATA=/path/to/data bash benchmarks/gpu_check.sh [OUT_DIR]    # OUT_DIR default runs/gpu_check
#   bash benchmarks/gpu_check.sh --dry-run [OUT_DIR]                     # checks everything but the GPU, prints the plan
#
# Needs: edgead installed in $PYTHON's environment (default .venv/bin/python, else python3) with a CUDA build of
# PyTorch, and $EDGEAD_DATA/mvtec_ad/bottle (default ../shared/data). Nothing is exported: no TensorRT, no
# onnxruntime-gpu. Budget: under 8 minutes on one GPU (the CPU runs take most of it); a warning when over.
# Exit status: 0 when every comparison holds, 1 when one does not, 2 when the machine cannot run the check.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
DRY_RUN=0
if [ "${1:-}" = "--dry-run" ]; then
    DRY_RUN=1
    shift
fi
if [ $# -gt 1 ] || [[ "${1:-}" == -* ]]; then
    echo "usage: bash benchmarks/gpu_check.sh [--dry-run] [OUT_DIR]" >&2
    exit 2
fi
OUT="${1:-runs/gpu_check}"
DATA="${EDGEAD_DATA:-../shared/data}/mvtec_ad/bottle"
if [ -z "${PYTHON:-}" ]; then
    PYTHON=.venv/bin/python
    [ -x "$PYTHON" ] || PYTHON=python3
fi
MODELS=(patchcore stfpm)
DEVICES=(cuda cpu)
BUDGET_S=480

fail() {
    echo "gpu_check: error: $*" >&2
    exit 2
}

# --- what the machine must have (all of it checked in a dry run too, except the GPU itself)
[ -d "$DATA/train/good" ] && [ -d "$DATA/test" ] ||
    fail "MVTec bottle not found at '$DATA' (train/good, test/); set EDGEAD_DATA to the folder holding mvtec_ad/"
# one interpreter start (importing torch takes seconds): exit 3 = no edgead, 4 = no GPU
GPU=$("$PYTHON" -c "
try:
    import edgead.train.fit
except ImportError as exc:
    print(exc)
    raise SystemExit(3)
import torch
if not torch.cuda.is_available():
    print(f'PyTorch {torch.__version__} (CUDA build: {torch.version.cuda}) sees no CUDA GPU')
    raise SystemExit(4)
print(f'{torch.cuda.get_device_name(0)}, PyTorch {torch.__version__}, CUDA {torch.version.cuda}')
" 2>&1) || case $? in
    4) GPU_ERROR="$GPU" ;;
    3) fail "'$PYTHON' cannot import edgead.train ($GPU): pip install -e './runtime[cpu]' -e ., or set PYTHON" ;;
    *) fail "'$PYTHON' failed: $GPU" ;;
esac
if [ -n "${GPU_ERROR:-}" ] && [ "$DRY_RUN" = 0 ]; then
    fail "$GPU_ERROR; run this on a machine with an NVIDIA GPU (or --dry-run to check the rest)"
fi

train_cmd() { # model device -> the edgead train command line
    echo "$PYTHON -m edgead.cli train --model $1 --data $DATA --out $OUT/$1-$2 --device $2 --seed 0"
}
compare_cmd() { # model -> the comparison command line (CPU run is the reference)
    echo "$PYTHON benchmarks/compare_runs.py $OUT/$1-cpu $OUT/$1-cuda"
}

if [ "$DRY_RUN" = 1 ]; then
    echo "gpu_check dry run: data $DATA, python $PYTHON, out $OUT"
    echo "GPU: ${GPU_ERROR:-$GPU}"
    for model in "${MODELS[@]}"; do
        for device in "${DEVICES[@]}"; do
            echo "would run: $(train_cmd "$model" "$device")"
        done
        echo "would run: $(compare_cmd "$model")"
    done
    exit 0
fi

mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
T0=$(date +%s)
{
    echo "gpu_check $(date -u +%FT%TZ) on $(hostname): $GPU"
    echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); data $DATA"
} >"$SUMMARY"
rc=0
for model in "${MODELS[@]}"; do
    for device in "${DEVICES[@]}"; do
        rm -rf "$OUT/$model-$device"
        echo "==> $(train_cmd "$model" "$device")"
        start=$(date +%s)
        # shellcheck disable=SC2046 # the command line is ours, word splitting intended
        $(train_cmd "$model" "$device") >"$OUT/$model-$device.log" 2>&1 ||
            fail "training $model on $device failed; see $OUT/$model-$device.log"
        echo "    $model on $device: $(($(date +%s) - start)) s wall" | tee -a "$SUMMARY"
    done
    echo "$model: CPU run vs CUDA run" | tee -a "$SUMMARY"
    # shellcheck disable=SC2046
    $(compare_cmd "$model") | tee -a "$SUMMARY" || rc=1
done
took=$(($(date +%s) - T0))
echo "total ${took} s (budget ${BUDGET_S} s); $([ "$rc" = 0 ] && echo 'all checks hold' || echo 'SOME CHECKS FAIL')" |
    tee -a "$SUMMARY"
[ "$took" -le "$BUDGET_S" ] || echo "warning: over the ${BUDGET_S} s budget" | tee -a "$SUMMARY"
echo "wrote $SUMMARY"
exit "$rc"
