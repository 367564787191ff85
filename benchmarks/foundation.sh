#!/usr/bin/env bash
# Reproduces the PatchCore/DFM figures quoted in README.md and in the models' READMEs.
#   bash benchmarks/foundation.sh [OUT_DIR]        (default OUT_DIR: runs/foundation)
# Needs ../shared/data (MVTec AD bottle, Magnetic Tile). Writes JSON results and logs to
# benchmarks/results/foundation/ (README; machine info is inside each bench JSON). Takes about 20 minutes on 2 cores.
set -euo pipefail
export TQDM_DISABLE=1  # keep the logs readable
cd "$(dirname "$0")/.."
out=${1:-runs/foundation}
data=${EDGEAD_DATA:-../shared/data}
results=benchmarks/results/foundation
mkdir -p "$out" "$results"

for dataset in mvtec_ad/bottle magnetic_tile; do
  name=$(basename "$dataset")
  for model in patchcore dfm; do
    run="$out/$model-$name"
    edgead train --model "$model" --data "$data/$dataset" --out "$run" 2>&1 | tee "$results/$model-$name.train.log"
    edgead export "$run" --format onnx -o "$out/$model-$name.onnx"
    edgead evaluate "$out/$model-$name.onnx" --data "$data/$dataset" --compare-torch "$run" \
      --json "$results/$model-$name.evaluate.json"
  done
done

# Latency: the backbone-only graph, PatchCore and DFM, interleaved in one run.
edgead export "$out/patchcore-bottle" --format onnx --part backbone -o "$out/backbone-bottle.onnx"
edgead-runtime bench "$out/backbone-bottle.onnx" "$out/patchcore-bottle.onnx" "$out/dfm-bottle.onnx" \
  --batch 1 8 --iters 200 --source "$data/mvtec_ad/bottle/test/broken_large/000.png" \
  --json "$results/bench-bottle.json" | tee "$results/bench-bottle.txt"
# Which part of each graph dominates: ONNX Runtime's per-operator profile.
for batch in 1 8; do
  for model in backbone patchcore dfm; do
    python benchmarks/profile_ops.py "$out/$model-bottle.onnx" --batch "$batch" --iters 40
  done
done | tee "$results/profile-ops.txt"
# torch eager vs the exported graph
for model in patchcore dfm; do
  edgead bench "$out/$model-bottle" "$out/$model-bottle.onnx" --batch 1 8 --iters 50 \
    --json "$results/torch-vs-onnx-$model.json" | tee "$results/torch-vs-onnx-$model.txt"
done

# PatchCore coreset ratio: accuracy and latency at several bank sizes (latency interleaved in one run).
models=()
for ratio in 0.001 0.01 0.05 0.1; do
  run="$out/patchcore-bottle-r$ratio"
  edgead train --model patchcore --data "$data/mvtec_ad/bottle" --coreset-ratio "$ratio" --out "$run" 2>&1 \
    | tee "$results/patchcore-bottle-r$ratio.train.log"
  edgead export "$run" --format onnx -o "$out/patchcore-bottle-r$ratio.onnx"
  edgead evaluate "$out/patchcore-bottle-r$ratio.onnx" --data "$data/mvtec_ad/bottle" \
    --json "$results/patchcore-bottle-r$ratio.evaluate.json"
  models+=("$out/patchcore-bottle-r$ratio.onnx")
done
edgead-runtime bench "$out/backbone-bottle.onnx" "${models[@]}" --batch 1 --iters 200 \
  --json "$results/bench-coreset-ratio.json" | tee "$results/bench-coreset-ratio.txt"

# DFM pooling: anomalib's kernel 4 against edgead's default 2, on bottle.
run="$out/dfm-bottle-pool4"
edgead train --model dfm --data "$data/mvtec_ad/bottle" --pool-size 4 --out "$run" 2>&1 | tee "$results/dfm-bottle-pool4.train.log"
edgead export "$run" --format onnx -o "$out/dfm-bottle-pool4.onnx"
edgead evaluate "$out/dfm-bottle-pool4.onnx" --data "$data/mvtec_ad/bottle" --json "$results/dfm-bottle-pool4.evaluate.json"
