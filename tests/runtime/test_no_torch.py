import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "onnx"):
            raise ImportError(f"{name} is blocked: the runtime must not need it")

sys.meta_path.insert(0, Block())
import edgead_runtime.backends, edgead_runtime.bench, edgead_runtime.cli, edgead_runtime.sources
import edgead_runtime.stream.pipeline, edgead_runtime.stream.command
from edgead_runtime.detector import Detector

result = Detector(sys.argv[1]).predict_path(sys.argv[2])
assert 0.0 <= result.score <= 1.0
assert edgead_runtime.cli.main(["info", sys.argv[1]]) == 0
print("ok", result.score)
"""


def test_runtime_imports_and_predicts_without_torch_or_onnx(model_path: Path, bottle_images: list[Path]) -> None:
    cmd = [sys.executable, "-c", SCRIPT, str(model_path), str(bottle_images[0])]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout
