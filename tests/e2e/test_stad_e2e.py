"""STAD end to end on real bottle images: ``edgead train --fast`` -> ``edgead export`` -> runtime.

Trains once per session through the shared ``trained`` fixture (128 px, reduced bottle set, ``--fast``;
tests/e2e/test_pipeline.py runs the generic CLI checks on the same run). Here: the exported graph holds
the teacher and every student, the runtime agrees with torch at any batch size, and defects score higher.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn


def is_conv(module: nn.Module) -> bool:
    return isinstance(module, nn.Conv2d)


def folded_weight(student: nn.Sequential, index: int) -> np.ndarray:
    """The conv weight as the exporter writes it: a following batch norm folded in (eval mode)."""
    weight = student[index].weight.detach()
    after = student[index + 1] if index + 1 < len(student) else None
    if isinstance(after, nn.BatchNorm2d):
        weight = weight * (after.weight / (after.running_var + after.eps).sqrt()).view(-1, 1, 1, 1)
    return weight.detach().numpy()


def test_stad_graph_holds_teacher_and_all_students_and_matches_torch(trained: Callable) -> None:
    import onnx
    from onnx import numpy_helper

    from edgead.train.run_dir import load_run
    from edgead_runtime.backends import open_backend
    from edgead_runtime.metadata import OUTPUT_NAMES
    from edgead_runtime.preprocess import list_images, load_frame

    t = trained("stad")
    _, graph, _ = load_run(t.run)
    model = graph.model
    student_convs = [folded_weight(s, i) for g in model.groups for s in g for i, m in enumerate(s) if is_conv(m)]
    assert len(student_convs) == len(model.groups) * model.options.n_students * (3 + max(model.depths) + 1)
    exported = onnx.load(str(t.onnx))
    initializers = {i.name: numpy_helper.to_array(i) for i in exported.graph.initializer}
    conv_weights = [
        initializers[n.input[1]] for n in exported.graph.node if n.op_type == "Conv" and n.input[1] in initializers
    ]
    for weight in student_convs:  # every layer of every student is its own Conv in the graph, weights included
        same = (
            i
            for i, w in enumerate(conv_weights)
            if w.shape == weight.shape
            # a Conv on the image itself has its input channels reversed: export folds the BGR->RGB reorder into it
            and any(np.allclose(w, v, rtol=1e-5, atol=1e-7) for v in (weight, weight[:, ::-1]))
        )
        match = next(same, None)
        assert match is not None, f"a student convolution {tuple(weight.shape)} is missing from the exported graph"
        conv_weights.pop(match)

    good = list_images(t.data / "test" / "good")
    bad = list_images(t.data / "test" / "broken_large")
    frames = np.stack([load_frame(p, (128, 128)) for p in [*good[:2], *bad[:1]]])  # batch 3: dynamic batch
    with open_backend(t.onnx) as backend:
        onnx_out = backend.run(frames)
    with torch.no_grad():
        torch_out = dict(zip(OUTPUT_NAMES, (v.numpy() for v in graph(torch.from_numpy(frames))), strict=True))
    for name in OUTPUT_NAMES:
        scale = max(float(np.abs(torch_out[name]).max()), 1e-6)
        diff = float(np.abs(onnx_out[name] - torch_out[name]).max())
        assert diff / scale < 1e-4, f"{name}: runtime vs torch max |diff| {diff:.3g} (scale {scale:.3g})"


def test_stad_scores_defects_above_good_images(trained: Callable) -> None:
    from edgead_runtime.detector import Detector
    from edgead_runtime.preprocess import list_images

    t = trained("stad")
    with Detector(t.onnx) as detector:
        good = [detector.predict_path(p).score for p in list_images(t.data / "test" / "good")]
        bad = [detector.predict_path(p).score for p in list_images(t.data / "test" / "broken_large")]
    assert len(good) == 8 and len(bad) == 8
    assert np.mean(bad) > np.mean(good), (good, bad)
