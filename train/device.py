"""Where torch runs: ``--device auto|cpu|cuda|cuda:N`` of ``edgead train``, ``evaluate`` and ``bench``.

The device changes where the arithmetic happens, not what is computed: every random draw (initial
weights, shuffling, coreset start, random projections) comes from torch's CPU generator, which
``--seed`` seeds, and is moved to the device afterwards; on CUDA, TF32 is switched off so matrix
products and convolutions stay float32 like the CPU's. A run trained on a GPU therefore matches a CPU
run up to float32 summation order (``benchmarks/gpu_check.sh`` measures how close), and it exports and
reloads on the CPU like any other run: the exported graph is the same file whatever trained it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from edgead_runtime.errors import EdgeadError

if TYPE_CHECKING:  # torch is imported by each function: the CLI imports this module to build its parser
    import torch

CHOICES = "auto, cpu, cuda, cuda:N"


def add_device_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--device`` for a command whose torch work is ``what``."""
    parser.add_argument(
        "--device",
        default="auto",
        metavar="auto|cpu|cuda[:N]",
        help=f"where torch runs the {what}: auto = CUDA when PyTorch sees a GPU, else the CPU; "
        "float32 either way, random draws from the seeded CPU generator (default: %(default)s)",
    )


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda[:N]`` must exist. A bad value is a one-line error."""
    import torch

    text = str(name).strip().lower()
    if text == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    kind, _, index = text.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise EdgeadError(f"--device {name}: choose one of {CHOICES} (N: the GPU's index, e.g. cuda:1)")
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "a CPU-only build"
        raise EdgeadError(
            f"--device {name}: PyTorch {torch.__version__} ({build}) sees no CUDA GPU on this machine; "
            "pass --device cpu (or auto), or install a CUDA build of PyTorch on a machine with an NVIDIA GPU"
        )
    count = torch.cuda.device_count()
    if index and int(index) >= count:
        raise EdgeadError(f"--device {name}: this machine has {count} CUDA GPU(s), cuda:0..cuda:{count - 1}")
    return torch.device(text)


def prepare(device: torch.device) -> str:
    """Set the device up for float32 parity with the CPU and describe it (for the training log)."""
    import torch

    if device.type != "cuda":
        return f"cpu ({torch.get_num_threads()} threads)"
    # TF32 (on by default for cuDNN convolutions on Ampere and newer) rounds inputs to 10 mantissa bits:
    # fast, but ~1e-3 relative off the CPU's float32; edgead trains in float32 everywhere.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)}, CUDA {torch.version.cuda}, TF32 off)"


def module_device(module: torch.nn.Module) -> torch.device:
    """The device a module's parameters (or, without parameters, buffers) live on."""
    import torch

    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer measures it (no-op on the CPU)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
