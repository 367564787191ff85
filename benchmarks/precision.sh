#!/usr/bin/env bash
# Precision and memory for the edge (docs/precision.md): fp16 memory bank, random-projection banks,
# fp16 and int8 ONNX variants of PatchCore and DFM, against fp32, on MVTec AD bottle at 256 px.
#   bash benchmarks/precision.sh [OUT_DIR]        (default OUT_DIR: runs/precision)
# Accuracy through the exported graph and the runtime (`edgead evaluate`), latency and peak memory
# from ONE interleaved `edgead-runtime bench` run, file sizes with `ls`. Writes to
# benchmarks/results/precision/. About 15 minutes on 2 cores.
set -euo pipefail
export TQDM_DISABLE=1
cd "$(dirname "$0")/.."
out=${1:-runs/precision}
data=${EDGEAD_DATA:-../shared/data}/mvtec_ad/bottle
results=benchmarks/results/precision
mkdir -p "$out" "$results"

train() {  # name, then edgead train options
  local name=$1; shift
  edgead train --data "$data" --out "$out/$name" "$@" 2>&1 | tee "$results/$name.train.log"
}
train patchcore --model patchcore
train patchcore-bank-fp16 --model patchcore --bank-dtype fp16
train patchcore-dim64 --model patchcore --bank-dim 64
train patchcore-dim32 --model patchcore --bank-dim 32
train dfm --model dfm

# ONNX variants: each export writes <name>.fp32.onnx beside the variant and prints the parity vs fp32.
for model in patchcore dfm; do
  for precision in fp16 int8; do
    edgead export "$out/$model" --format onnx --precision "$precision" -o "$out/$model.$precision.onnx" 2>&1 \
      | tee "$results/$model.$precision.export.log"
  done
done
for name in patchcore-bank-fp16 patchcore-dim64 patchcore-dim32; do
  edgead export "$out/$name" --format onnx -o "$out/$name.fp32.onnx" 2>&1 | tee "$results/$name.export.log"
done

models=(patchcore.fp32 patchcore-bank-fp16.fp32 patchcore-dim64.fp32 patchcore-dim32.fp32 patchcore.fp16
        patchcore.int8 dfm.fp32 dfm.fp16 dfm.int8)
for m in "${models[@]}"; do
  edgead evaluate "$out/$m.onnx" --data "$data" --json "$results/$m.evaluate.json" | tee "$results/$m.evaluate.txt"
done
(cd "$out" && ls -l "${models[@]/%/.onnx}") | tee "$results/sizes.txt"

# latency: every graph round-robin in one run (onnxruntime CPU, batch 1 and 8), with peak memory per graph
paths=("${models[@]/#/$out/}")
nice -n 10 edgead-runtime bench "${paths[@]/%/.onnx}" --batch 1 8 --iters 100 \
  --source "$data/test/broken_large/000.png" --json "$results/bench.json" | tee "$results/bench.txt"
