"""``edgead demo``: the whole workflow on a fresh machine, on data that installs from PyPI.

The elpv-dataset package ships electroluminescence images of solar cells (300x300, grey) with
a defect probability per cell. Monocrystalline cells rated 0 are the good parts, cells rated 1.0
the defective ones. The demo writes them as an MVTec-layout folder (image labels, no masks), then
trains, exports, evaluates through the runtime and benchmarks, exactly as a user would.
"""

from __future__ import annotations

import csv
import os
import shutil
import time
import warnings
from pathlib import Path

from edgead.evaluation import evaluate_model
from edgead.export.formats import export
from edgead.train.config import TrainConfig
from edgead.train.fit import train
from edgead_runtime.bench import bench_model, format_report

TRAIN_GOOD = 200
TEST_PER_CLASS = 50
CELL_TYPE = "mono"


def build_elpv_folder(root: Path) -> Path:
    """Link elpv cells into ``root`` in the MVTec layout: train/good, test/good, test/defective."""
    import elpv_dataset

    source = Path(elpv_dataset.__file__).parent / "data"
    good, bad = [], []
    with open(source / "labels.csv") as f:
        for path, probability, cell_type in (line.split() for line in f if line.strip()):
            if cell_type == CELL_TYPE and float(probability) in (0.0, 1.0):
                (good if float(probability) == 0.0 else bad).append(source / path)
    good.sort()
    bad.sort()
    split = {
        "train/good": good[:TRAIN_GOOD],
        "test/good": good[TRAIN_GOOD : TRAIN_GOOD + TEST_PER_CLASS],
        "test/defective": bad[:TEST_PER_CLASS],
    }
    if root.exists():
        shutil.rmtree(root)
    for folder, paths in split.items():
        (root / folder).mkdir(parents=True)
        for path in paths:
            os.symlink(path, root / folder / path.name)
    with open(root / "README.csv", "w", newline="") as f:
        csv.writer(f).writerows([("folder", "images"), *((k, len(v)) for k, v in split.items())])
    return root


def run_demo(model: str, out: Path, image_size: int = 256) -> None:
    start = time.perf_counter()
    data = build_elpv_folder(out / "elpv")
    print(
        f"data: {data} (elpv-dataset, {CELL_TYPE} cells: {TRAIN_GOOD} good to train, "
        f"{TEST_PER_CLASS} good + {TEST_PER_CLASS} defective to test; image labels only, no masks)"
    )
    run_dir = out / f"{model}-elpv"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*no mask file.*")  # elpv has image labels only
        train(TrainConfig(model=model, data=str(data), out=str(run_dir), image_size=image_size))
        model_path = export(run_dir, "onnx", "fp32", out / f"{model}-elpv.onnx")
        evaluate_model(model_path, data, json_out=out / f"{model}-elpv.evaluate.json")
    sample = next((data / "test" / "defective").iterdir())
    print(format_report(bench_model([model_path], batch_sizes=(1, 8), warmup=5, iters=30, source=sample)))
    print(
        f"demo finished in {time.perf_counter() - start:.0f} s; try: "
        f"edgead-runtime predict {model_path} --source {data / 'test' / 'defective'}"
    )
