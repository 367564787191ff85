#!/usr/bin/env bash
# ONNX Runtime vs OpenVINO (f32 and bf16) for PatchCore and DFM on MVTec AD bottle, in ONE interleaved
# `edgead-runtime bench` run: latency ratios per batch size, stages, peak RSS per target, and image/pixel
# AUROC per backend (so a precision's accuracy cost sits next to its speed).
#   bash benchmarks/openvino.sh [OUT_DIR]        (default OUT_DIR: runs/openvino)
# Needs ../shared/data (or EDGEAD_DATA) and the openvino extra (pip install './runtime[openvino,plots]').
# Existing runs and exports in OUT_DIR are reused. Writes benchmarks/results/openvino/ (machine info is in bench.json).
set -euo pipefail
export TQDM_DISABLE=1  # keep the logs readable
cd "$(dirname "$0")/.."
out=${1:-runs/openvino}
data=${EDGEAD_DATA:-../shared/data}
results=benchmarks/results/openvino
mkdir -p "$out" "$results"

models=()
for model in patchcore dfm; do
  if [ ! -f "$out/$model/config.json" ]; then
    edgead train --model "$model" --data "$data/mvtec_ad/bottle" --out "$out/$model" 2>&1 \
      | tee "$results/$model.train.log"
  fi
  if [ ! -f "$out/$model.onnx" ] || [ ! -f "$out/$model.xml" ]; then
    edgead export "$out/$model" --format onnx -o "$out/$model.onnx" | tee "$results/$model.export.log"
    # the IR the OpenVINO backend deploys, checked against the ONNX graph on the run's real parity frames
    edgead export "$out/$model" --format openvino -o "$out/$model.xml" | tee -a "$results/$model.export.log"
  fi
  models+=("$out/$model.onnx")
done

# One run, six targets (2 models x 3 engines), round-robin; OpenVINO reads the same .onnx graph as ORT.
edgead-runtime bench "${models[@]}" --compare onnxruntime openvino:f32 openvino:bf16 \
  --batch 1 8 --warmup 10 --iters 100 --source "$data/mvtec_ad/bottle/test/broken_large/000.png" \
  --accuracy "$data/mvtec_ad/bottle" \
  --json "$results/bench.json" --markdown "$results/bench.md" --plots "$results" | tee "$results/bench.txt"
