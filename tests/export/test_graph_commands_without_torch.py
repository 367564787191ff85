"""Every graph-side command runs where torch cannot be imported (a Jetson, a CI box with only the runtime + onnx):
``edgead export MODEL.onnx`` to OpenVINO and to its fp16/int8 ``.onnx`` variants, ``edgead doctor`` and
``edgead evaluate`` of an ``.onnx``. (``.onnx`` -> TensorRT: test_tensorrt_build.py.)"""

from __future__ import annotations

import json
import subprocess
import sys

BLOCKED = """
import json, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ImportError(f"{name} is blocked: graph-side commands must not need torch")

sys.meta_path.insert(0, Block())
from edgead.cli import main

graph, backbone, data, out = sys.argv[1:5]
codes = {
    "openvino": main(["export", graph, "--format", "openvino", "-o", f"{out}/m.xml"]),
    "fp16": main(["export", graph, "--format", "onnx", "--precision", "fp16", "-o", f"{out}/m.fp16.onnx"]),
    "int8": main(["export", backbone, "--format", "onnx", "--precision", "int8", "--calibration-data", data,
                  "--calibration-images", "8"]),
    "doctor": main(["doctor", f"{out}/bb.int8.onnx", "--trt-version", "8.5"]),
    "evaluate": main(["evaluate", f"{out}/m.fp16.onnx", "--data", data, "--json", f"{out}/eval.json"]),
}
assert not any(m.split(".")[0] == "torch" for m in sys.modules), "torch was imported"
print("CODES", json.dumps(codes))
"""


def test_graph_side_commands_run_with_torch_blocked(trained, bottle_small, tmp_path):
    from edgead.cli import main

    t = trained("patchcore")
    # int8 goes on the backbone graph: on this 128 px test run the full graph's int8 scores miss the variant bound
    # (PatchCore's kNN distance to its own training patches is smaller than the int8 feature noise; see
    # docs/precision.md); the command is the same
    backbone = tmp_path / "bb.onnx"
    assert main(["export", str(t.run), "--format", "onnx", "--part", "backbone", "-o", str(backbone)]) == 0
    cmd = [sys.executable, "-c", BLOCKED, str(t.onnx), str(backbone), str(bottle_small), str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    codes = json.loads(done.stdout.split("CODES", 1)[1])
    assert codes == dict.fromkeys(codes, 0), (codes, done.stderr[-3000:])
    assert "Traceback" not in done.stderr
    for name in ("m.xml", "m.bin", "m.fp16.onnx", "bb.int8.onnx", "eval.json"):
        assert (tmp_path / name).is_file(), name
    assert "int8 calibrated on 8 good images from" in done.stdout
    assert "fp16 graph vs fp32 on 4 synthetic frames" in done.stdout
    assert json.loads((tmp_path / "eval.json").read_text())["metrics"]["image_auroc"] > 0.9
    assert not list(tmp_path.glob("*.fp32.onnx"))  # the source .onnx is the fp32 graph; nothing re-exported
