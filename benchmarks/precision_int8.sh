#!/usr/bin/env bash
# The int8 rows of docs/precision.md alone (the narrowest rerun of benchmarks/precision.sh after a change to the
# int8 graph): PatchCore and DFM on MVTec AD bottle at 256 px, their fp32 and int8 ONNX graphs, accuracy through
# `edgead evaluate`, and fp32 vs int8 latency in ONE interleaved `edgead-runtime bench` run.
#   bash benchmarks/precision_int8.sh [OUT_DIR]        (default OUT_DIR: runs/precision-int8)
# Writes benchmarks/results/precision/{patchcore,dfm}.int8.* (with .as-written.*) and bench-int8.{txt,json}. About 6 minutes on 2 idle cores.
set -euo pipefail
export TQDM_DISABLE=1
cd "$(dirname "$0")/.."
out=${1:-runs/precision-int8}
data=${EDGEAD_DATA:-../shared/data}/mvtec_ad/bottle
results=benchmarks/results/precision
mkdir -p "$out" "$results"
for model in patchcore dfm; do
  edgead train --model "$model" --data "$data" --out "$out/$model" > "$out/$model.train.log" 2>&1
  # writes $model.fp32.onnx beside the int8 graph and prints the int8-vs-fp32 parity and the doctor's verdict
  edgead export "$out/$model" --format onnx --precision int8 -o "$out/$model.int8.onnx" 2>&1 \
    | tee "$results/$model.int8.export.log"
  for precision in fp32 int8; do
    edgead evaluate "$out/$model.$precision.onnx" --data "$data" --json "$out/$model.$precision.evaluate.json" \
      > "$out/$model.$precision.evaluate.txt"
  done
  cp "$out/$model.int8.evaluate.json" "$out/$model.int8.evaluate.txt" "$results/"
  # the same int8 graph with its Q/DQ computed as written (what an int8 TensorRT engine computes), beside ONNX
  # Runtime's fused kernels, which saturate on x86 CPUs without VNNI
  python benchmarks/int8_as_written.py "$out/$model.int8.onnx" --data "$data" \
    --json "$results/$model.int8.as-written.json" | tee "$results/$model.int8.as-written.txt"
done
(cd "$out" && ls -l patchcore.fp32.onnx patchcore.int8.onnx dfm.fp32.onnx dfm.int8.onnx) | tee "$results/sizes-int8.txt"
nice -n 10 edgead-runtime bench "$out/patchcore.fp32.onnx" "$out/patchcore.int8.onnx" "$out/dfm.fp32.onnx" \
  "$out/dfm.int8.onnx" --batch 1 8 --iters 100 --source "$data/test/broken_large/000.png" \
  --json "$results/bench-int8.json" | tee "$results/bench-int8.txt"
