"""`edgead doctor` on exported graphs and their fp16/int8 variants for TensorRT 8.5, 10.x and 11.x.

    python benchmarks/doctor_families.py OUT_DIR patchcore.onnx=runs/pc dfm.onnx=runs/dfm ...

Each ``GRAPH=RUN_DIR`` pair: the fp32 graph written by ``edgead export RUN_DIR --format onnx`` and its run
(whose parity frames calibrate the int8 variant; the doctor's checks are static, so a few frames suffice).
The variants are written to OUT_DIR. Prints one summary line per graph and version and every non-info
finding. Exit status 1 when any graph is not ready.
"""

from __future__ import annotations

import sys
from pathlib import Path

from edgead.export.doctor import diagnose
from edgead.export.precision import quantize_int8, to_fp16
from edgead.train.run import load_parity_frames

VERSIONS = ("8.5", "10", "11")


def main(out_dir: str, *pairs: str) -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ready = True
    for pair in pairs:
        graph, run = (Path(p) for p in pair.split("=", 1))
        fp16, int8 = out / f"{graph.stem}.fp16.onnx", out / f"{graph.stem}.int8.onnx"
        to_fp16(graph, fp16)
        quantize_int8(graph, int8, load_parity_frames(run))
        for path in (graph, fp16, int8):
            for version in VERSIONS:
                report = diagnose(path, "trt", version)
                print(report.summary())
                for finding in report.findings:
                    if finding.severity != "info":
                        print("   ", finding.line())
                ready &= report.ok
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
