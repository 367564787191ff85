import subprocess
import sys
from pathlib import Path

BLOCK_TORCH = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "onnx"):
            raise ImportError(f"{name} is blocked: the runtime must not need it")

sys.meta_path.insert(0, Block())
"""
SCRIPT = (
    BLOCK_TORCH
    + """
import edgead_runtime.backends, edgead_runtime.bench, edgead_runtime.cli, edgead_runtime.sources
import edgead_runtime.stream.pipeline, edgead_runtime.stream.command, edgead_runtime.stream.prometheus
from edgead_runtime.detector import Detector

result = Detector(sys.argv[1]).predict_path(sys.argv[2])
assert 0.0 <= result.score <= 1.0
assert edgead_runtime.cli.main(["info", sys.argv[1]]) == 0
print("ok", result.score)
"""
)


def test_runtime_imports_and_predicts_without_torch_or_onnx(model_path: Path, bottle_images: list[Path]) -> None:
    cmd = [sys.executable, "-c", SCRIPT, str(model_path), str(bottle_images[0])]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout


API_SCRIPT = (
    BLOCK_TORCH
    + """import edgead_runtime

heavy = sorted(m for m in ("numpy", "cv2", "onnxruntime", "openvino", "tqdm") if m in sys.modules)
assert not heavy, f"import edgead_runtime loaded {heavy}"
from edgead_runtime import BACKENDS, Detector, Result, bench_model, format_report, open_backend

assert set(edgead_runtime.__all__) == {"__version__", *edgead_runtime._EXPORTS} <= set(dir(edgead_runtime))
with Detector(sys.argv[1]) as detector:
    result = detector.predict_path(sys.argv[2])
assert isinstance(result, Result) and 0.0 <= result.score <= 1.0
with open_backend(sys.argv[1]) as backend:
    assert backend.name in BACKENDS
report = bench_model([sys.argv[1]], batch_sizes=(1,), warmup=0, iters=2)
assert "edgead-runtime bench" in format_report(report)
try:
    edgead_runtime.Detectr
except AttributeError as exc:
    assert "it exports" in str(exc)
print("ok")
"""
)


def test_documented_top_level_imports_lazily_and_without_torch(model_path: Path, bottle_images: list[Path]) -> None:
    """The README's names, from the package top: importing it loads no numpy, OpenCV or engine; using them works."""
    cmd = [sys.executable, "-c", API_SCRIPT, str(model_path), str(bottle_images[0])]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout
