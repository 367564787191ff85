"""The Python API: ``from edgead import train, export, evaluate`` are the CLI's functions with the CLI's defaults."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest


def test_import_edgead_is_cheap_and_the_names_stay_callable() -> None:
    code = (
        "import sys\n"
        "import edgead\n"
        "from edgead import evaluate, export, train\n"
        "assert callable(train) and callable(export) and callable(evaluate)\n"
        "print('torch' in sys.modules)\n"
        "import edgead.train.fit, edgead.export.formats  # rebinds edgead.train / edgead.export to the packages\n"
        "from edgead import export as export2, train as train2\n"
        "assert train2 is train and export2 is export and callable(edgead.train) and callable(edgead.export)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "ok"], done.stdout  # torch loads on the first call, not on import


def _bound(function, args: tuple, kwargs: dict) -> dict:
    """The call's arguments by parameter name, defaults filled in, options that are None dropped (not given)."""
    bound = inspect.signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    values = dict(bound.arguments)
    values.update({k: v for k, v in values.pop("options", {}).items() if v is not None})
    return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}


def test_api_and_cli_call_the_same_functions_with_the_same_defaults(monkeypatch, tmp_path: Path) -> None:
    import edgead
    import edgead.evaluation as evaluate_module
    import edgead.export.formats as formats
    import edgead.train.fit as fit
    from edgead.cli import main

    calls: dict[str, list] = {"train": [], "export": [], "evaluate": []}
    real_export, real_evaluate = formats.export, evaluate_module.evaluate_model
    monkeypatch.setattr(fit, "train", lambda config, device="auto": calls["train"].append((config, device)))
    from edgead_runtime.names import engine

    def export(*args, **kwargs):  # export() itself maps an alias (trt) to its name; the CLI maps it earlier
        call = _bound(real_export, args, kwargs)
        calls["export"].append({**call, "fmt": engine(call["fmt"], formats.FORMATS, "format")})

    monkeypatch.setattr(formats, "export", export)
    monkeypatch.setattr(
        evaluate_module, "evaluate_model", lambda *a, **k: calls["evaluate"].append(_bound(real_evaluate, a, k))
    )
    data = tmp_path / "bottle"

    main(["train", "--model", "dfm", "--data", str(data), "--pool-size", "1"])
    edgead.train("dfm", data, pool_size=1)
    main(
        [
            "train",
            "--model",
            "stfpm",
            "--data",
            str(data),
            "--out",
            "r",
            "--layers",
            "1",
            "2",
            "--fast",
            "--device",
            "cpu",
        ]
    )
    edgead.train("stfpm", str(data), out="r", layers=[1, 2], fast=True, device="cpu")
    main(["export", "runs/x", "--format", "onnx"])
    edgead.export("runs/x", "onnx")
    main(["export", "m.onnx", "--format", "trt", "--precision", "fp16", "--max-batch", "4", "-o", "m.engine"])
    edgead.export("m.onnx", "trt", "fp16", "m.engine", max_batch=4)
    main(["evaluate", "m.onnx", "--data", str(data)])
    edgead.evaluate("m.onnx", data)

    for name, made in calls.items():
        assert len(made) in (2, 4), (name, made)
        for cli_call, api_call in zip(made[::2], made[1::2], strict=True):
            assert cli_call == api_call, name
    assert calls["train"][0][0].options == {"pool_size": 1} and calls["train"][0][0].out == "runs/dfm-bottle"
    assert [device for _, device in calls["train"]] == ["auto", "auto", "cpu", "cpu"]
    assert calls["export"][3]["max_batch"] == 4 and calls["export"][0]["precision"] == "fp32"


@pytest.mark.slow  # two DFM trains and exports: 54 s of CPU (2.4 min on the loaded 2-core machine)
def test_api_trains_exports_and_evaluates_like_the_cli(trained, tmp_path: Path) -> None:
    """The whole API on the reduced bottle set gives the CLI's run (same config) and the same metrics."""
    import edgead

    cli = trained("dfm")
    run = edgead.train("dfm", cli.data, out=tmp_path / "run", image_size=128)
    onnx = edgead.export(run, "onnx", output=tmp_path / "dfm.onnx")
    report = edgead.evaluate(onnx, cli.data)
    cli_config = json.loads((cli.run / "config.json").read_text())
    api_config = json.loads((run / "config.json").read_text())
    assert {**api_config, "out": None} == {**cli_config, "out": None}
    cli_report = edgead.evaluate(cli.onnx, cli.data)
    assert report["metrics"] == pytest.approx(cli_report["metrics"], abs=1e-6)
    assert report["metrics"]["image_auroc"] > 0.9
