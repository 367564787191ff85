"""Adding a backend is one module and one row in BACKENDS: a test-only backend with its own option flag
becomes usable from predict and bench, and its flag is generated, documented and checked like the others."""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgead_runtime.backends import BACKENDS
from edgead_runtime.backends.onnxruntime import OnnxRuntimeBackend, OrtOptions
from edgead_runtime.backends.options import option, threads_option
from edgead_runtime.cli import main


@dataclass(frozen=True)
class OffsetOptions:
    score_offset: float = option(0.0, flag="--score-offset", type=float, metavar="X", help="added to every score")
    intra_op_threads: int | None = threads_option()


class OffsetBackend(OnnxRuntimeBackend):
    """ONNX Runtime, then ``score_offset`` added to the normalized score: a visible effect of its own option."""

    name = "offset"
    Options = OffsetOptions

    @classmethod
    def _open(cls, path: str | Path, options: OffsetOptions) -> "OffsetBackend":  # type: ignore[override]
        backend = super()._open(path, OrtOptions(["CPUExecutionProvider"], options.intra_op_threads))
        backend.score_offset = options.score_offset  # type: ignore[attr-defined]
        return backend  # type: ignore[return-value]

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        out = super()._run(batch)
        return {**out, "score": out["score"] + np.float32(self.score_offset)}

    def describe(self) -> dict:
        return {**super().describe(), "backend": self.name, "score_offset": self.score_offset}


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BACKENDS, "offset", (f"{__name__}:OffsetBackend", ()))  # the one table row


def _scores(path: Path) -> list[float]:
    return [json.loads(line)["score"] for line in path.read_text().splitlines()]


def test_a_test_only_backend_runs_predict_with_its_own_flag(
    plugin: None, model_path: Path, bottle_images: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = str(bottle_images[0].parent)
    plain, shifted = tmp_path / "plain.jsonl", tmp_path / "shifted.jsonl"
    assert main(["predict", str(model_path), "--source", source, "--json", str(plain)]) == 0
    args = ["--backend", "offset", "--score-offset", "0.25", "--threads", "1", "--json", str(shifted)]
    assert main(["predict", str(model_path), "--source", source, *args]) == 0
    assert "on offset" in capsys.readouterr().out
    assert np.allclose(np.array(_scores(shifted)) - np.array(_scores(plain)), 0.25, atol=1e-6)


def test_a_test_only_backend_runs_bench_and_its_flag_is_checked(
    plugin: None, model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    args = ["--batch", "1", "--warmup", "0", "--iters", "2", "--no-memory", "--json", str(out)]
    assert main(["bench", str(model_path), "--backend", "offset", "--score-offset", "0.5", *args]) == 0
    (target,) = json.loads(out.read_text())["targets"]
    assert target["backend"] == "offset" and target["engine"]["score_offset"] == 0.5
    assert main(["bench", str(model_path), "--compare", "onnxruntime", "offset", *args]) == 0
    assert [t["backend"] for t in json.loads(out.read_text())["targets"]] == ["onnxruntime", "offset"]
    capsys.readouterr()
    # the flag belongs to the new backend only: another backend refuses it, naming the flag
    assert main(["predict", str(model_path), "--source", "x.png", "--score-offset", "1"]) == 1
    assert "backend 'onnxruntime' has no option --score-offset (score_offset)" in capsys.readouterr().err


def test_the_generated_help_lists_the_new_flag(plugin: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--score-offset X offset: added to every score" in text
    # the flag's help names every backend that takes it, the test-only one last (its row is added last)
    assert re.search(r"--threads N onnxruntime, openvino, [a-z, -]*\boffset: intra-", text), text
