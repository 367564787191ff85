"""The bench report: schema, comparisons and ratios, stages, memory, accuracy, Markdown, plots, machine info."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgead_runtime.backends import open_backend
from edgead_runtime.bench import (
    SCHEMA,
    Target,
    bench,
    format_report,
    machine_info,
    parse_nvidia_smi,
    parse_nvpmodel,
    parse_targets,
    parse_tegra_release,
    reference_indices,
    write_plots,
)
from edgead_runtime.cli import main
from edgead_runtime.errors import BackendError, EdgeadError
from edgead_runtime.preprocess import load_frame

from .graphs import BOTTLE, HEIGHT, WIDTH

STATS = {"iters", "mean_ms", "std_ms", "p50_ms", "p90_ms", "p99_ms"}
TARGET_KEYS = {
    "label", "path", "backend", "precision", "engine", "model", "backbone", "part", "input_size", "reference",
    "preprocess", "postprocess", "batches", "pipeline_fps", "memory", "accuracy", "startup",
}  # fmt: skip
MACHINE_KEYS = {
    "cpu", "cores", "threads", "cpus_available", "platform", "python", "numpy", "opencv", "onnxruntime",
    "openvino", "tensorrt", "edgead_cpp", "edgead_runtime", "gpus", "jetson",
}  # fmt: skip


@pytest.fixture(scope="module")
def mvtec_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MVTec-layout folder of real bottle images (symlinks): 4 good, 4 broken_large with masks."""
    root = tmp_path_factory.mktemp("mvtec_small")
    good, broken = sorted((BOTTLE / "good").glob("*.png"))[:4], sorted((BOTTLE / "broken_large").glob("*.png"))[:4]
    if len(good) < 4 or len(broken) < 4:
        pytest.skip(f"real images not found under {BOTTLE} (the shared data folder)")
    for path, folder in [(p, "test/good") for p in good] + [(p, "test/broken_large") for p in broken]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / path.name).symlink_to(path)
    masks = BOTTLE.parent / "ground_truth" / "broken_large"
    (root / "ground_truth" / "broken_large").mkdir(parents=True)
    for path in broken:
        mask = masks / f"{path.stem}_mask.png"
        (root / "ground_truth" / "broken_large" / mask.name).symlink_to(mask)
    return root


def test_parse_targets() -> None:
    models = [Path("a.onnx"), Path("b.xml")]
    targets = parse_targets(models, ["onnxruntime", "openvino:bf16"])
    assert [(t.path.name, t.backend, t.precision) for t in targets] == [
        ("a.onnx", "onnxruntime", None),
        ("a.onnx", "openvino", "bf16"),
        ("b.xml", "onnxruntime", None),
        ("b.xml", "openvino", "bf16"),
    ]
    assert [t.label for t in parse_targets(models)] == ["a.onnx onnxruntime", "b.xml openvino"]  # by suffix
    assert parse_targets(models[:1], precision="f16")[0].precision == "f16"
    with pytest.raises(
        BackendError, match="unknown backend 'openvinoo'.*choose one of: auto, onnxruntime \\(ort\\), openvino"
    ):
        parse_targets(models, ["openvinoo:f32"])
    with pytest.raises(BackendError, match="--compare names the backend.*drop --backend/--precision"):
        parse_targets(models, ["onnxruntime"], backend="openvino")


def test_ratio_references() -> None:
    a, b = Path("a.onnx"), Path("b.onnx")
    # --compare: each model's backends against that model's first backend
    compared = parse_targets([a, b], ["onnxruntime", "openvino:f32", "openvino:bf16"])
    assert reference_indices(compared) == [0, 0, 0, 3, 3, 3]
    assert reference_indices(parse_targets([a, b, Path("c.xml")])) == [0, 0, 0]  # different models: the first


def test_compare_backends_in_one_run_with_ratios_and_accuracy(
    model_path: Path, mvtec_small: Path, tmp_path: Path
) -> None:
    ov = pytest.importorskip("openvino", reason="no openvino here: pip install 'edgead-runtime[openvino]'")
    # openvino:bf16 runs only where the CPU computes bf16 (AVX512-BF16/AMX); elsewhere (e.g. an AVX2-only EPYC)
    # the runtime must refuse it by name instead of letting the plugin fall back, and the bf16 target is left out
    has_bf16 = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    if not has_bf16:
        with pytest.raises(EdgeadError, match="bf16"):
            bench(parse_targets([model_path], ["openvino:bf16"]), (1,), warmup=1, iters=1, memory=False)
    specs = ["onnxruntime", "openvino:f32"] + (["openvino:bf16"] if has_bf16 else [])
    targets = parse_targets([model_path], specs)
    source = sorted((mvtec_small / "test" / "good").iterdir())[0]
    report = bench(targets, (1, 2), warmup=1, iters=4, source=source, accuracy=mvtec_small, memory=False)
    json.dumps(report)  # plain JSON types throughout
    assert report["schema"] == SCHEMA and set(report["machine"]) == MACHINE_KEYS
    assert report["settings"]["interleaved"] is True and report["settings"]["frame_size"] == [512, 512]
    assert set(report["decode"]) == STATS and report["process_peak_rss_mb"] > 0
    assert [t["label"] for t in report["targets"]] == [f"fixture.onnx {spec}" for spec in specs]
    ort, f32 = report["targets"][:2]
    assert f32["engine"]["precision"] == "f32"  # read back from OpenVINO
    for t in report["targets"]:
        assert set(t) == TARGET_KEYS and set(t["preprocess"]) == set(t["postprocess"]) == STATS
        assert t["pipeline_fps"] > 0 and t["reference"] == "fixture.onnx onnxruntime"
        assert t["startup"]["open_ms"] > 0 and t["startup"]["first_call_ms"] > 0
        for g, first in zip(t["batches"], ort["batches"], strict=True):
            assert g["ratio_to_reference"] == pytest.approx(g["p50_ms"] / first["p50_ms"])
            assert g["fps_ratio_to_reference"] == pytest.approx(g["fps"] / first["fps"])
            assert len(g["samples_ms"]) == 4 and min(g["samples_ms"]) > 0

    # accuracy through the runtime equals sklearn on the same frames scored by ONNX Runtime
    sklearn = pytest.importorskip("sklearn.metrics")
    paths = sorted((mvtec_small / "test").glob("*/*.png"))
    labels = np.array([p.parent.name != "good" for p in paths])
    frames = np.stack([load_frame(p, (HEIGHT, WIDTH)) for p in paths])
    with open_backend(model_path) as backend:
        out = backend.run(frames)
    masks = np.stack(
        [
            load_frame(mvtec_small / "ground_truth" / p.parent.name / f"{p.stem}_mask.png", (HEIGHT, WIDTH))[..., 0]
            > 127
            if p.parent.name != "good"
            else np.zeros((HEIGHT, WIDTH), bool)
            for p in paths
        ]
    )
    expected_image = sklearn.roc_auc_score(labels, out["raw_score"])
    expected_pixel = sklearn.roc_auc_score(masks.ravel(), out["raw_anomaly_map"].ravel())
    assert ort["accuracy"]["images"] == 8 and ort["accuracy"]["anomalous"] == 4 and ort["accuracy"]["pixel_images"] == 8
    assert ort["accuracy"]["image_auroc"] == pytest.approx(expected_image, abs=1e-12)
    assert ort["accuracy"]["pixel_auroc"] == pytest.approx(expected_pixel, abs=1e-9)
    assert f32["accuracy"]["image_auroc"] == pytest.approx(expected_image, abs=1e-12)
    assert ort["accuracy"]["image_auroc_delta_to_reference"] == 0.0
    if has_bf16:
        bf16 = report["targets"][2]
        assert bf16["engine"]["precision"] == "bf16"  # read back from OpenVINO
        assert bf16["accuracy"]["pixel_auroc_delta_to_reference"] == pytest.approx(
            bf16["accuracy"]["pixel_auroc"] - expected_pixel
        )

    text = format_report(report)
    last = f"| fixture.onnx {specs[-1]} | {specs[-1].split(':')[1]} | 2 |"
    for needle in (last, "p50 vs ref", "image AUROC", "decode", "Δ pixel"):
        assert needle in text, needle
    assert f"| {ort['accuracy']['image_auroc']:.4f} |" in text

    pytest.importorskip("matplotlib", reason="plots need matplotlib: pip install 'edgead-runtime[plots]'")
    written = write_plots(report, tmp_path / "plots")
    assert [p.name for p in written] == ["latency_cdf.png", "fps_vs_batch.png", "stages.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_memory_is_measured_per_target_in_a_fresh_process(model_path: Path) -> None:
    pytest.importorskip("openvino", reason="no openvino here: pip install 'edgead-runtime[openvino]'")
    report = bench([Target(model_path, "openvino")], (3,), warmup=0, iters=1)
    memory = report["targets"][0]["memory"]
    assert memory["isolated"] and memory["batch"] == 3
    assert memory["peak_mb"] >= memory["after_open_mb"] >= memory["baseline_mb"] > 0
    assert memory["model_mb"] == pytest.approx(memory["peak_mb"] - memory["baseline_mb"])
    # the probe starts light (not the parent's high-water mark) and loading OpenVINO costs real memory
    assert memory["baseline_mb"] < report["process_peak_rss_mb"] and memory["model_mb"] > 5
    assert f"{memory['peak_mb']:.0f} ({memory['model_mb']:+.0f})" in format_report(report)


def test_cli_writes_json_markdown_and_plots(model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib: pip install 'edgead-runtime[plots]'")
    out = tmp_path / "out"
    args = ["bench", str(model_path), str(model_path), "--batch", "1", "--warmup", "1", "--iters", "2", "--no-memory"]
    args += ["--json", str(out / "b.json"), "--markdown", str(out / "b.md"), "--plots", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "b.json").read_text())
    assert (out / "b.md").read_text() in printed and "wrote " + str(out / "stages.png") in printed
    assert [t["memory"] for t in report["targets"]] == [None, None]
    assert report["targets"][1]["batches"][0]["ratio_to_reference"] > 0


def test_accuracy_needs_a_labelled_split(model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(EdgeadError, match="has no labelled test split"):
        bench([Target(model_path, "onnxruntime")], (1,), 0, 1, accuracy=tmp_path, memory=False)
    with pytest.raises(EdgeadError, match="batch sizes must be >= 1"):
        bench([Target(model_path, "onnxruntime")], (0,), memory=False)


def test_machine_info_here() -> None:
    info = machine_info()
    assert set(info) == MACHINE_KEYS
    assert info["threads"] >= info["cores"] >= 1 and info["cpu"]
    assert info["onnxruntime"] and info["edgead_runtime"]


def test_parsers_on_real_tool_output() -> None:
    # published /etc/nv_tegra_release first lines (JetPack 6.0 = L4T 36.3.0, JetPack 6.2.1 = L4T 36.4.7)
    jp60 = "# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64, DATE: Fri Jul 19 2024"
    jp62 = (
        "# R36 (release), REVISION: 4.7, GCID: 42132812, BOARD: generic, EABI: aarch64, "
        "DATE: Thu Sep 18 22:54:44 UTC 2025\n# KERNEL_VARIANT: oot\nTARGET_USERSPACE_LIB_DIR=nvidia\n"
    )
    assert parse_tegra_release(jp60) == "R36.3.0" and parse_tegra_release(jp62) == "R36.4.7"
    assert parse_tegra_release("garbage") is None
    assert parse_nvpmodel("NV Power Mode: MAXN\n0\n") == "MAXN (mode 0)"
    verbose = "NVPM VERB: Config file: /etc/nvpmodel.conf\nNVPM VERB: Current mode: NV Power Mode: 25W\n1\n"
    assert parse_nvpmodel(verbose) == "25W (mode 1)"
    assert parse_nvpmodel(None) is None
    smi = "NVIDIA H100 80GB HBM3, 550.54.15, 81559\nNVIDIA A10, 535.104.05, 23028\n"
    assert parse_nvidia_smi(smi) == [
        {"name": "NVIDIA H100 80GB HBM3", "driver": "550.54.15", "memory_mb": 81559},
        {"name": "NVIDIA A10", "driver": "535.104.05", "memory_mb": 23028},
    ]
    assert parse_nvidia_smi(None) is None and parse_nvidia_smi("") is None
