"""anomalib's own to_onnx, with its example input made batch B and no dynamic_shapes (dynamo specializes the
batch anyway: torch.export fails with 'batch_size specialized to 2', and torch.onnx falls back to static).

    ANOMALIB_CKPT=.../model.ckpt python export_fixed.py B OUT_DIR     -> OUT_DIR/weights/onnx/model.onnx
"""

import sys
from pathlib import Path

import anomalib.models.components.base.export_mixin.mixin as mixin
import torch
from build import ac, build

B = int(sys.argv[1])
orig = mixin.get_example_input


def example(input_size, dynamic_shapes):
    x = orig(input_size, dynamic_shapes)
    return torch.zeros(B, *x.shape[1:], dtype=x.dtype)


mixin.get_example_input = example
m = build()
p = m.to_onnx(Path(sys.argv[2]), input_size=ac.SIZE, dynamic_axes={})
print(p)
