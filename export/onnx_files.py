"""Reading and writing ONNX files, torch-free: export, the precision variants and the doctor share one rule for the
2 GB limit and one reader of the embedded edgead metadata."""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from edgead_runtime.errors import EdgeadError
from edgead_runtime.files import atomic_write
from edgead_runtime.metadata import METADATA_KEY, embedded_metadata

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


def onnx_metadata(path: Path) -> str:
    """The edgead JSON of an exported ONNX graph; an error naming the file if it is unreadable or has none."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (OSError, DecodeError) as exc:
        raise EdgeadError(f"cannot read '{path}' as ONNX ({exc}); export it with `edgead export RUN_DIR`") from exc
    text = next((p.value for p in model.metadata_props if p.key == METADATA_KEY), None)
    embedded_metadata(text, path, "metadata_props", "onnx")  # raises if missing or malformed
    return text
