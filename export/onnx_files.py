"""Reading and writing ONNX files, torch-free: export, the precision variants and the doctor share one rule for the
2 GB limit and one reader of the embedded edgead metadata."""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from edgead_runtime.errors import EdgeadError
from edgead_runtime.files import atomic_write, replace_files, staging_folder
from edgead_runtime.metadata import METADATA_KEY, embedded_metadata

PROTOBUF_LIMIT = 2**31 - 1  # one serialized ONNX protobuf cannot exceed 2 GB


def save_model(model: onnx.ModelProto, output: Path, external_data_threshold: int = PROTOBUF_LIMIT) -> None:
    """Save atomically; past ``external_data_threshold`` bytes the weights go to ``<output>.data``.

    The previous model stays whole until the new graph is complete: with external data both files are written in a
    staging folder beside the output and renamed in place together, data first; a new graph without external data
    removes the old ``.data`` only once it is in place (a crash or a full disk in between keeps the old model).
    """
    output = Path(output)
    data = output.parent / (output.name + ".data")
    if model.ByteSize() <= external_data_threshold:
        atomic_write(output, lambda tmp: onnx.save_model(model, tmp))
        data.unlink(missing_ok=True)  # the old graph needed it until the line above
        return
    with staging_folder(output) as stage:
        onnx.save_model(
            model,
            str(stage / output.name),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=data.name,
            size_threshold=1024,
        )
        replace_files([(stage / data.name, data), (stage / output.name, output)])


def onnx_metadata(path: Path) -> str:
    """The edgead JSON of an exported ONNX graph; an error naming the file if it is unreadable or has none."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (OSError, DecodeError) as exc:
        raise EdgeadError(f"cannot read '{path}' as ONNX ({exc}); export it with `edgead export RUN_DIR`") from exc
    text = next((p.value for p in model.metadata_props if p.key == METADATA_KEY), None)
    embedded_metadata(text, path, "metadata_props", "onnx")  # raises if missing or malformed
    return text
