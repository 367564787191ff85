#!/usr/bin/env bash
# Reproduces the STFPM and Reverse Distillation figures in train/models/{stfpm,reverse_distillation}/README.md.
#   bash benchmarks/distillation.sh [OUT_DIR]        (default OUT_DIR: runs/distillation)
# Needs ../shared/data (MVTec AD bottle, Magnetic Tile). Default settings of each model (256 px,
# tf_efficientnet_lite0, seed 0). Writes the train logs, training histories (epoch losses and
# training time) and evaluate JSONs (exported graph via the runtime, and torch for comparison) to
# benchmarks/results/, then times both graphs against the backbone alone in one interleaved run.
# Training is the long part: run it on an otherwise idle machine for times worth quoting.
set -euo pipefail
export TQDM_DISABLE=1  # keep the logs readable
cd "$(dirname "$0")/.."
out=${1:-runs/distillation}
data=${EDGEAD_DATA:-../shared/data}
results=benchmarks/results
mkdir -p "$out" "$results"

for dataset in mvtec_ad/bottle magnetic_tile; do
  name=$(basename "$dataset")
  for model in stfpm reverse_distillation; do
    run="$out/$model-$name"
    edgead train --model "$model" --data "$data/$dataset" --out "$run" 2>&1 | tee "$results/$model-$name.train.log"
    cp "$run/training.json" "$results/$model-$name.training.json"
    edgead export "$run" --format onnx -o "$out/$model-$name.onnx" 2>&1 | tee "$results/$model-$name.export.log"
    edgead evaluate "$out/$model-$name.onnx" --data "$data/$dataset" --compare-torch "$run" \
      --json "$results/$model-$name.evaluate.json"
  done
done

# STAD (dense Uninformed Students; train/models/stad/README.md): the same steps, its default settings.
for dataset in mvtec_ad/bottle magnetic_tile; do
  name=$(basename "$dataset")
  run="$out/stad-$name"
  edgead train --model stad --data "$data/$dataset" --out "$run" 2>&1 | tee "$results/stad-$name.train.log"
  cp "$run/training.json" "$results/stad-$name.training.json"
  edgead export "$run" --format onnx -o "$out/stad-$name.onnx" 2>&1 | tee "$results/stad-$name.export.log"
  edgead evaluate "$out/stad-$name.onnx" --data "$data/$dataset" --compare-torch "$run" \
    --json "$results/stad-$name.evaluate.json"
done

# Latency: the backbone-only graph and both distillation graphs, interleaved in one run.
edgead export "$out/stfpm-bottle" --format onnx --part backbone -o "$out/backbone-distillation.onnx"
edgead-runtime bench "$out/backbone-distillation.onnx" "$out/stfpm-bottle.onnx" "$out/reverse_distillation-bottle.onnx" \
  "$out/stad-bottle.onnx" --batch 1 8 --iters 200 --source "$data/mvtec_ad/bottle/test/broken_large/000.png" \
  --json "$results/bench-distillation.json" | tee "$results/bench-distillation.txt"
