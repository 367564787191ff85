import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgead_runtime.cli import main
from edgead_runtime.detector import Detector

from .test_sources import write_video


@pytest.fixture
def folder(tmp_path: Path, bottle_images: list[Path], tile_images: list[Path]) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for path in bottle_images + tile_images[:2]:
        shutil.copy(path, folder / f"{path.parent.name}_{path.name}")
    (folder / "good_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    # decodes as float32 values, not pixels; sorts between two good frames, so the batch must split
    cv2.imwrite(str(folder / "good_0005_float.tiff"), np.full((20, 30), 0.5, np.float32))
    return folder


def test_predict_folder_records_the_corrupt_file_and_goes_on(
    model_path: Path, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    overlays = tmp_path / "overlays"
    code = main(["predict", str(model_path), "--source", str(folder), "--json", str(out), "--batch", "3",
                 "--save-overlays", str(overlays)])  # fmt: skip
    assert code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    files = sorted(folder.iterdir())
    assert [Path(line["path"]).name for line in lines] == [p.name for p in files]
    floating, corrupt = [line for line in lines if "error" in line]
    assert Path(corrupt["path"]).name == "good_corrupt.png" and set(corrupt) == {"path", "error"}
    assert Path(floating["path"]).name == "good_0005_float.tiff" and "float32" in floating["error"]
    for line in lines:
        if "error" not in line:
            assert set(line) == {"path", "score", "raw_score", "is_anomalous", "threshold", "latency_ms"}
            assert line["is_anomalous"] == (line["score"] >= line["threshold"] == 0.5)
    printed = capsys.readouterr()
    assert "predicted 8 frames" in printed.out and "2 unreadable" in printed.out
    assert "ERR" in printed.out and "good_corrupt.png" in printed.out
    assert len(list(overlays.glob("*.png"))) == 8
    (good_000,) = overlays.glob(f"*{folder.name}_good_000.png")  # named after the whole path, not its end
    assert cv2.imread(str(good_000)).shape == (512, 512, 3)


def test_predict_keeps_written_lines_when_a_later_batch_crashes(
    model_path: Path, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    predict_batch = Detector.predict_batch

    def crash_on_second_call(self: Detector, frames: list[np.ndarray]) -> list:
        calls.append(len(frames))
        if len(calls) == 2:
            raise RuntimeError("engine died")
        return predict_batch(self, frames)

    monkeypatch.setattr(Detector, "predict_batch", crash_on_second_call)
    out = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError, match="engine died"):
        main(["predict", str(model_path), "--source", str(folder), "--json", str(out), "--batch", "2"])
    assert len(out.read_text().splitlines()) == 2


def test_predict_threshold_override_and_video(model_path: Path, tmp_path: Path, bottle_images: list[Path]) -> None:
    video = write_video(tmp_path / "line.avi", bottle_images[:5])
    out = tmp_path / "video.jsonl"
    assert main(["predict", str(model_path), "--source", str(video), "--json", str(out), "--threshold", "0"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["path"] for line in lines] == [f"{video}#frame={k}" for k in range(5)]
    assert all(line["is_anomalous"] and line["threshold"] == 0 for line in lines)


def test_predict_exit_codes_and_one_line_errors(
    model_path: Path, tmp_path: Path, backbone_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"garbage")
    assert main(["predict", str(model_path), "--source", str(bad)]) == 1
    assert "no frame" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "nope.onnx"), "--source", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("edgead-runtime: error: model file") and "Traceback" not in err
    assert main(["predict", str(backbone_model_path), "--source", str(bad)]) == 1
    assert "'backbone' graph" in capsys.readouterr().err


def test_bench_writes_the_documented_json(
    model_path: Path, backbone_model_path: Path, bottle_images: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", str(model_path), str(backbone_model_path), "--batch", "1", "2", "--warmup", "1",
            "--iters", "3", "--source", str(bottle_images[0]), "--json", str(out)]  # fmt: skip
    assert main(args + ["--no-memory"]) == 0
    report = json.loads(out.read_text())
    assert report["schema"] == "edgead-bench/2"
    assert {"cpu", "cores", "threads", "python", "onnxruntime"} <= set(report["machine"])
    assert report["settings"]["interleaved"] is True and report["settings"]["frame_size"] == [512, 512]
    first, second = report["targets"]
    assert first["preprocess"]["iters"] == 3 and second["postprocess"] is None  # a backbone graph has no map
    assert [g["batch"] for g in second["batches"]] == [1, 2]
    for g in first["batches"]:
        assert g["ratio_to_reference"] == 1.0
        assert {"p50_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "fps"} <= set(g)


def test_info(model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "fixture" in out and "input  image" in out and "['N', 48, 64, 3]" in out
    assert "output anomaly_map" in out


def test_help_lists_examples_without_loading_engines() -> None:
    code = "from edgead_runtime.cli import main; main(['--help'])"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
    assert "examples:" in done.stdout and "predict" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert not imported & {"numpy", "cv2", "onnxruntime", "tqdm"}
