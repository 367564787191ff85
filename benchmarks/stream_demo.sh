#!/usr/bin/env bash
# The stream service's must-show runs (issue 4), recorded in benchmarks/results/stream/:
#   1. a video made from ../shared/data bottle images, processed end to end at file speed
#   2. a loopback MJPEG camera killed and restarted mid-run: the run reopens it, nothing emitted is lost
#   3. soak: 20,000+ frames from a looped video, RSS at start and end, the RSS curve over time
# Usage: bash benchmarks/stream_demo.sh [WORK_DIR]   (about 15 minutes on 2 shared cores; run with nice)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="${BIN:-$(dirname "$(command -v python)")}"   # the venv with edgead + edgead-runtime
PY="$BIN/python"
DATA="${EDGEAD_DATA:-../shared/data}/mvtec_ad/bottle"
WORK="${1:-/tmp/edgead-stream-demo}"
OUT=benchmarks/results/stream
mkdir -p "$WORK" "$OUT"

# models: DFM on bottle at 256 px (demo 1) and 128 px (demos 2 and 3, faster), exported to ONNX
for size in 256 128; do
    if [ ! -f "$WORK/dfm$size.onnx" ]; then
        "$BIN/edgead" train --model dfm --data "$DATA" --image-size $size --out "$WORK/dfm$size" > "$WORK/train$size.log" 2>&1
        "$BIN/edgead" export "$WORK/dfm$size" --format onnx -o "$WORK/dfm$size.onnx" >> "$WORK/train$size.log" 2>&1
    fi
done

# 1. file speed, end to end: every bottle test image (good and defective) as one lossless video
"$PY" benchmarks/stream_video.py video "$WORK/bottle-test.avi" "$DATA"/test/*/*.png --size 256
rm -rf "$OUT/demo"; mkdir -p "$OUT/demo"
"$BIN/edgead-runtime" run "$WORK/dfm256.onnx" --source "$WORK/bottle-test.avi" --batch 4 \
    --events "$OUT/demo/events.jsonl" --video-out "$OUT/demo/annotated.avi" --save-dir "$OUT/demo/ng" \
    --summary "$OUT/demo/summary.json" --status-every 5 2>&1 | tee "$OUT/demo/run.log"
frames=$("$PY" -c "import cv2,sys; print(int(cv2.VideoCapture(sys.argv[1]).get(cv2.CAP_PROP_FRAME_COUNT)))" "$WORK/bottle-test.avi")
events=$(wc -l < "$OUT/demo/events.jsonl")
annotated=$("$PY" -c "import cv2,sys; print(int(cv2.VideoCapture(sys.argv[1]).get(cv2.CAP_PROP_FRAME_COUNT)))" "$OUT/demo/annotated.avi")
echo "demo 1: $frames frames in the video, $events events, $annotated annotated frames, $(ls "$OUT/demo/ng" | wc -l) saved files" | tee -a "$OUT/demo/run.log"
[ "$frames" -eq "$events" ] && [ "$frames" -eq "$annotated" ] || { echo "demo 1: counts differ" >&2; exit 1; }

# 2. disconnect: a camera on loopback killed 6 s into the run and restarted 4 s later
rm -rf "$OUT/disconnect"; mkdir -p "$OUT/disconnect"
PORT=$("$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
serve() { "$PY" benchmarks/stream_video.py serve "$PORT" "$DATA"/test/good/*.png --fps 10 >> "$OUT/disconnect/server.log" 2>&1 & echo $!; }
SERVER=$(serve); sleep 1
"$BIN/edgead-runtime" run "$WORK/dfm128.onnx" --source "http://127.0.0.1:$PORT/stream.mjpg" --max-frames 200 \
    --backoff 0.5 2 --events "$OUT/disconnect/events.jsonl" --summary "$OUT/disconnect/summary.json" \
    --status-every 5 > "$OUT/disconnect/run.log" 2>&1 &
RUN=$!
sleep 6; kill "$SERVER"; echo "$(date -u +%T) server killed" | tee -a "$OUT/disconnect/server.log"
sleep 4; SERVER=$(serve); echo "$(date -u +%T) server restarted" | tee -a "$OUT/disconnect/server.log"
wait "$RUN"; kill "$SERVER"
"$PY" - "$OUT/disconnect" <<'PYEOF' | tee -a "$OUT/disconnect/run.log"
import json, sys
from pathlib import Path
d = Path(sys.argv[1])
s = json.loads((d / "summary.json").read_text())
events = [json.loads(line) for line in (d / "events.jsonl").read_text().splitlines()]
c = s["counts"]
frames = [e["frame"] for e in events]
print(f"demo 2: {c['captured']} captured, {c['reconnects']} reconnects, {c['dropped']} dropped, {len(events)} events;"
      f" frame indices {frames[0]}..{frames[-1]}, contiguous: {frames == list(range(len(frames)))}")
assert c["reconnects"] >= 1 and len(events) == c["processed"] == c["captured"] - c["dropped"]
PYEOF

# 3. soak: 20,000 frames of the looped demo video through DFM 128 px, with every sink but the window
rm -rf "$OUT/soak"; mkdir -p "$OUT/soak"
nice -n 10 "$BIN/edgead-runtime" run "$WORK/dfm128.onnx" --source "$WORK/bottle-test.avi" --loop --max-frames 20000 \
    --batch 4 --events "$WORK/soak-events.jsonl" --video-out "$WORK/soak.avi" --metrics-port 0 \
    --status-every 10 --status-json "$OUT/soak/status.jsonl" --summary "$OUT/soak/summary.json" 2>&1 | tee "$OUT/soak/run.log"
"$PY" - "$OUT/soak" "$WORK/soak-events.jsonl" <<'PYEOF' | tee -a "$OUT/soak/run.log"
import json, sys
from pathlib import Path
d = Path(sys.argv[1])
s = json.loads((d / "summary.json").read_text())
curve = [json.loads(line) for line in (d / "status.jsonl").read_text().splitlines()]
n_events = sum(1 for _ in open(sys.argv[2]))
rss = [c["rss_kb"] / 1024 for c in curve]
print(f"demo 3: {s['counts']['processed']} frames scored, {n_events} events, {s['wall_s']:.0f} s; "
      f"RSS {s['memory_start_kb']['rss_kb'] / 1024:.1f} MB at start, {s['memory_end_kb']['rss_kb'] / 1024:.1f} MB "
      f"at end; peak (VmHWM) {s['memory_start_kb']['peak_rss_kb'] / 1024:.1f} MB at start, "
      f"{s['memory_end_kb']['peak_rss_kb'] / 1024:.1f} MB at end")
half = len(rss) // 2
print(f"RSS over {len(rss)} samples: min {min(rss):.1f} max {max(rss):.1f} MB; "
      f"first-half mean {sum(rss[:half]) / max(half, 1):.1f}, second-half mean {sum(rss[half:]) / max(len(rss) - half, 1):.1f} MB")
assert s["counts"]["processed"] >= 20000 and n_events == s["counts"]["processed"]
PYEOF
tail -n 3 "$WORK/soak-events.jsonl" > "$OUT/soak/events-tail.jsonl"
rm -f "$WORK/soak.avi"
