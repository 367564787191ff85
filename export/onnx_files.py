"""Writing ONNX files, torch-free: export, the precision variants and the doctor share one rule for the 2 GB limit."""

from __future__ import annotations

from pathlib import Path

import onnx

from edgead_runtime.files import atomic_write

PROTOBUF_LIMIT = 2**31 - 1  # one serialized ONNX protobuf cannot exceed 2 GB


def save_model(model: onnx.ModelProto, output: Path, external_data_threshold: int = PROTOBUF_LIMIT) -> None:
    """Save atomically; past ``external_data_threshold`` bytes the weights go to ``<output>.data``."""
    output = Path(output)
    external = model.ByteSize() > external_data_threshold
    data_name = output.name + ".data"

    def write(tmp: str) -> None:
        if external:
            onnx.save_model(
                model,
                tmp,
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=data_name,
                size_threshold=1024,
            )
        else:
            onnx.save_model(model, tmp)

    output.parent.mkdir(parents=True, exist_ok=True)
    if not external:
        (output.parent / data_name).unlink(missing_ok=True)
    atomic_write(output, write)
