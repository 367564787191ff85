#!/usr/bin/env bash
# Reproduces the figures of the distillation family (STFPM, Reverse Distillation and STAD) quoted in
# train/models/{stfpm,reverse_distillation,stad}/README.md, and the all-family latency table
# benchmarks/results/distillation/bench-all-families.{txt,md,json} (backbone alone, PatchCore, DFM, STFPM, RD, STAD).
#
#   bash benchmarks/distillation.sh [OUT_DIR]            (default OUT_DIR: runs/distillation)
#   DATASETS=bottle bash benchmarks/distillation.sh      only bottle; DATASETS=magnetic_tile: only Magnetic Tile
#
# Run it with the venv's edgead, edgead-runtime and python on PATH, on an otherwise idle machine (times are
# only worth quoting then). Data: $EDGEAD_DATA (default ../shared/data) with mvtec_ad/bottle and magnetic_tile.
#
# Environment (the defaults write the recorded files):
#   DATASETS       "bottle magnetic_tile"        datasets of the train step
#   STEPS          "train textures bench fast ablations summary"   parts to run, in this order:
#     train        per dataset, STFPM, RD and STAD at their default settings (256 px, tf_efficientnet_lite0,
#                  seed 0): edgead train, edgead export (checks torch vs ONNX Runtime), edgead evaluate
#                  through the runtime with --compare-torch
#     textures     Magnetic Tile with the settings that suit a texture (stage 3 only, 128 px; STFPM 30 epochs,
#                  STAD 32-dim descriptors and one-block students), as <model>-magnetic_tile-stage3-128.*
#     bench        PatchCore and DFM on bottle too (their figures are benchmarks/foundation.sh's; logs stay in
#                  OUT_DIR), then the six graphs in one interleaved edgead-runtime bench; needs train's bottle runs
#     fast         --fast on the CI set (tests/conftest.py's reduced bottle: 40 good training images, 8 good and
#                  8 broken_large test images, 128 px) for the three models, and the STFPM epoch sweep behind
#                  its fast_epochs (torch metrics of edgead train, which the exported graph matches)
#     ablations    benchmarks/distillation_ablations.py: map combination order, STFPM's blur, training batch
#     summary      benchmarks/distillation_summary.py: the README tables, from the files above
#   RESULTS        benchmarks/results/distillation  where logs and JSON go; point it elsewhere for a trial run
#   TRAIN_ARGS     ""                             extra edgead train arguments, every model (trial: --image-size 64)
#   SCHEDULE_ARGS  ""                             extra arguments for STFPM, RD and STAD in train (trial: --epochs 1)
#   BENCH_ITERS    100                            timed calls per target and batch size
#
# Writes to $RESULTS: <model>-<dataset>.{train.log,export.log,training.json,evaluate.json} for each model and
# dataset (dataset: bottle, magnetic_tile); bench-all-families.{txt,md,json}; <model>-bottle-fast.{train.log,
# export.log,training.json,evaluate.json}; stfpm-fast-epochs.txt; ablations.{txt,json};
# summary.md; and, appended by every invocation, machine.txt (CPU model, cores, load,
# versions, commit) and commands.txt (every command exactly as run).
set -euo pipefail
export TQDM_DISABLE=1  # keep the logs readable
cd "$(dirname "$0")/.."
out=$(mkdir -p "${1:-runs/distillation}" && cd "${1:-runs/distillation}" && pwd)
data=$(cd "${EDGEAD_DATA:-../shared/data}" && pwd)
results=$(mkdir -p "${RESULTS:-benchmarks/results/distillation}" && cd "${RESULTS:-benchmarks/results/distillation}" && pwd)
datasets=${DATASETS:-bottle magnetic_tile}
steps=${STEPS:-train textures bench fast ablations summary}
read -r -a train_args <<< "${TRAIN_ARGS:-}"
read -r -a schedule_args <<< "${SCHEDULE_ARGS:-}"
commands="$results/commands.txt"
distillation_models=(stfpm reverse_distillation stad)

run() {  # record the command exactly, then run it
  printf '%q ' "$@" >> "$commands"
  echo >> "$commands"
  "$@"
}

timed() {  # run, then print wall and user time as the recorded train logs show them
  local TIMEFORMAT='wall %R s user %U s'
  time run "$@"
}

has_step() { [[ " $steps " == *" $1 "* ]]; }

dataset_dir() {
  case $1 in
    bottle) echo "$data/mvtec_ad/bottle" ;;
    magnetic_tile) echo "$data/magnetic_tile" ;;
    *) echo "unknown dataset '$1' in DATASETS; use bottle and/or magnetic_tile" >&2; return 1 ;;
  esac
}

# train, export and evaluate one run: TAG DATA_DIR MODEL [extra edgead train arguments]
train_export_evaluate() {
  local tag=$1 dataset=$2 model=$3
  shift 3
  { timed edgead train --model "$model" --data "$dataset" --out "$out/$tag" "${train_args[@]}" "$@"; } 2>&1 \
    | tee "$results/$tag.train.log"
  cp "$out/$tag/training.json" "$results/$tag.training.json"
  run edgead export "$out/$tag" --format onnx -o "$out/$tag.onnx" 2>&1 | tee "$results/$tag.export.log"
  run edgead evaluate "$out/$tag.onnx" --data "$dataset" --compare-torch "$out/$tag" --json "$results/$tag.evaluate.json"
}

{
  echo "## $(date -u +%FT%TZ): bash benchmarks/distillation.sh ${1:-} (DATASETS='$datasets' STEPS='$steps'" \
    "TRAIN_ARGS='${TRAIN_ARGS:-}' SCHEDULE_ARGS='${SCHEDULE_ARGS:-}' BENCH_ITERS='${BENCH_ITERS:-100}')"
  lscpu | grep -E '^(Model name|CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)):'
  echo "nproc: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "commit: $(git rev-parse HEAD)$(git diff --quiet HEAD -- train export runtime edgead || echo ' (with local changes)')"
  python -c 'import platform, torch, onnxruntime; from importlib.metadata import version
print("python", platform.python_version(), "torch", torch.__version__, "onnxruntime", onnxruntime.__version__,
      "edgead", version("edgead"), "torch threads", torch.get_num_threads())'
} | tee -a "$results/machine.txt"
echo "## $(date -u +%FT%TZ) DATASETS='$datasets' STEPS='$steps'" >> "$commands"

if has_step train; then
  for name in $datasets; do
    dataset=$(dataset_dir "$name")
    for model in "${distillation_models[@]}"; do
      train_export_evaluate "$model-$name" "$dataset" "$model" "${schedule_args[@]}"
    done
  done
fi

if has_step textures; then
  # why these settings: the fine stages' maps are noise on a textured background (each model's README)
  dataset=$(dataset_dir magnetic_tile)
  texture=(--image-size 128 --layers 3)
  train_export_evaluate stfpm-magnetic_tile-stage3-128 "$dataset" stfpm "${texture[@]}" --epochs 30
  train_export_evaluate reverse_distillation-magnetic_tile-stage3-128 "$dataset" reverse_distillation "${texture[@]}"
  train_export_evaluate stad-magnetic_tile-stage3-128 "$dataset" stad "${texture[@]}" --descriptor-dim 32 \
    --student-depths 1
fi

if has_step bench; then
  # the recorded table names the files backbone.onnx, patchcore.onnx, ...: time copies with those names
  bench="$out/bench"
  mkdir -p "$bench"
  for model in "${distillation_models[@]}"; do
    [[ -f "$out/$model-bottle.onnx" ]] || { echo "bench needs $out/$model-bottle.onnx: run with DATASETS including bottle and STEPS including train first" >&2; exit 1; }
    cp "$out/$model-bottle.onnx" "$bench/$model.onnx"
  done
  for model in patchcore dfm; do
    run edgead train --model "$model" --data "$data/mvtec_ad/bottle" --out "$out/$model-bottle" "${train_args[@]}" \
      > "$out/$model-bottle.train.log" 2>&1
    run edgead export "$out/$model-bottle" --format onnx -o "$bench/$model.onnx" > "$out/$model-bottle.export.log" 2>&1
  done
  run edgead export "$out/patchcore-bottle" --format onnx --part backbone -o "$bench/backbone.onnx" \
    > "$out/backbone-bottle.export.log" 2>&1
  (
    cd "$bench"
    run edgead-runtime bench backbone.onnx patchcore.onnx dfm.onnx stfpm.onnx reverse_distillation.onnx stad.onnx \
      --batch 1 8 --iters "${BENCH_ITERS:-100}" --source "$data/mvtec_ad/bottle/test/broken_large/000.png" \
      --json "$results/bench-all-families.json" --markdown "$results/bench-all-families.md"
  ) | tee "$results/bench-all-families.txt"
fi

if has_step fast; then
  ci="$out/ci-bottle"
  rm -rf "$ci"
  run python -c 'import sys; from pathlib import Path; sys.path.insert(0, "tests")
from conftest import SMALL_TEST, SMALL_TRAIN, make_small_mvtec
make_small_mvtec(Path(sys.argv[1]), Path(sys.argv[2]), SMALL_TRAIN, SMALL_TEST)' "$data/mvtec_ad/bottle" "$ci"
  for model in "${distillation_models[@]}"; do
    train_export_evaluate "$model-bottle-fast" "$ci" "$model" --image-size 128 --fast
  done
  sweep="$results/stfpm-fast-epochs.txt"
  echo "# STFPM on the CI set at 128 px: epochs seed image_auroc pixel_auroc aupro training_s" \
    "(torch metrics of edgead train, RUN_DIR/metrics.json; training.json seconds)" > "$sweep"
  for epochs in 3 5 10; do
    for seed in 0 1 2; do
      tag="stfpm-ci-e$epochs-s$seed"
      run edgead train --model stfpm --data "$ci" --image-size 128 --epochs "$epochs" --seed "$seed" --out "$out/$tag" \
        > "$out/$tag.train.log" 2>&1
      run python -c 'import json, sys; run = sys.argv[1]
m, t = (json.load(open(f"{run}/{f}.json")) for f in ("metrics", "training"))
print(*sys.argv[2:], *(f"{m[k]:.4f}" for k in ("image_auroc", "pixel_auroc", "aupro")), round(t["seconds"], 1))' \
        "$out/$tag" "$epochs" "$seed" | tee -a "$sweep"
    done
  done
fi

if has_step ablations; then
  run python benchmarks/distillation_ablations.py --data "$data/mvtec_ad/bottle" --out "$out/ablations" \
    --results "$results"
fi

if has_step summary; then
  run python benchmarks/distillation_summary.py "$results" | tee "$results/summary.md"
fi
