"""`edgead doctor` on exported graphs and their fp16/int8 variants for TensorRT 8.5, 10.x and 11.x.

    python benchmarks/doctor_families.py OUT_DIR patchcore.onnx=runs/pc dfm.onnx=runs/dfm ...

Each ``GRAPH=RUN_DIR`` pair: the fp32 graph written by ``edgead export RUN_DIR --format onnx`` and its run
(whose parity frames calibrate the int8 variant; the doctor's checks are static, so a few frames suffice).
The variants are written to OUT_DIR. Prints a header (command, machine, date, and each run's model, data,
image size and options from its config.json), then one summary line per graph and version and every non-info
finding. Exit status 1 when any graph is not ready.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from edgead.export.doctor import diagnose
from edgead.export.precision import quantize_int8, to_fp16
from edgead.train.run_dir import load_parity_frames

VERSIONS = ("8.5", "10", "11")


def machine() -> str:
    """The CPU model (`lscpu`'s 'Model name'), the core count and the OS: what the record was made on."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
        cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name")), "unknown CPU")
    except (OSError, subprocess.CalledProcessError):
        cpu = platform.processor() or "unknown CPU"
    return f"{cpu}, {os.cpu_count()} logical CPUs; {platform.platform()}"


def describe_run(run: Path) -> str:
    config = json.loads((run / "config.json").read_text())
    options = " ".join(f"{k}={v}" for k, v in sorted(config.get("options", {}).items())) or "defaults"
    fast = ", fast schedule" if config.get("fast") else ""
    return (
        f"{config['model']} ({config['backbone']}), {config['image_size']} px, data {config['data']}{fast}; "
        f"options: {options}"
    )


def main(out_dir: str, *pairs: str) -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    print(f"# command: python benchmarks/doctor_families.py {out_dir} {' '.join(pairs)}")
    print(f"# machine: {machine()}")
    print(f"# date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}")
    for pair in pairs:
        graph, run = (Path(p) for p in pair.split("=", 1))
        print(f"# {graph.name}: {describe_run(run)}")
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
