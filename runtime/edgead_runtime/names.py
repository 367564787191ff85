"""One vocabulary for engines and precisions, shared by ``edgead export --format``, ``edgead doctor --target``,
``edgead-runtime --backend`` and every ``--precision``.

Each word has one canonical spelling; the others ever documented stay accepted as aliases, so
``--format trt`` and ``--backend tensorrt`` name the same engine and ``f16`` (OpenVINO's spelling)
means ``fp16`` everywhere. Standard library only: the CLIs build their flags from it at ``--help`` time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .errors import EdgeadError

# canonical -> aliases
ENGINES: dict[str, tuple[str, ...]] = {
    "onnx": (),  # the exported graph itself (`--format onnx`); ONNX Runtime runs it
    "onnxruntime": ("ort",),
    "openvino": (),
    "tensorrt": ("trt",),
    "ort-trt": (),  # ONNX Runtime's TensorRT execution provider
    "ort-cuda": (),  # ONNX Runtime's CUDA execution provider
    "triton": (),  # Triton Inference Server: a model repository (`--format`), a served model (`--backend`)
}
PRECISIONS: dict[str, tuple[str, ...]] = {
    "fp32": ("f32",),
    "fp16": ("f16",),  # OpenVINO and the runtime CLI said f16
    "bf16": (),
    "int8": (),
}


def _lookup(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {word: name for name, aliases in table.items() for word in (name, *aliases)}


_ENGINE = _lookup(ENGINES)
_PRECISION = _lookup(PRECISIONS)


def spellings(table: dict[str, tuple[str, ...]], names: Iterable[str]) -> str:
    """``fp16 (f16), int8``: the canonical names with their aliases, for help texts and errors."""
    return ", ".join(f"{n} ({', '.join(table[n])})" if table.get(n) else n for n in names)


def _canonical(word: str, lookup: dict[str, str], table: dict, allowed: Iterable[str] | None, what: str) -> str:
    name = lookup.get(str(word).strip().lower())
    allowed = list(table if allowed is None else allowed)
    if name not in allowed:
        raise EdgeadError(f"{what} '{word}' is not one of: {spellings(table, allowed)}")
    return name  # type: ignore[return-value]


def engine(word: str, allowed: Iterable[str] | None = None, what: str = "engine") -> str:
    """The canonical engine name for ``word`` (``trt`` -> ``tensorrt``), checked against ``allowed``."""
    return _canonical(word, _ENGINE, ENGINES, allowed, what)


def precision(word: str, allowed: Iterable[str] | None = None, what: str = "precision") -> str:
    """The canonical precision for ``word`` (``f16`` -> ``fp16``), checked against ``allowed``."""
    return _canonical(word, _PRECISION, PRECISIONS, allowed, what)


def argtype(kind: Callable[..., str], allowed: Iterable[str], flag: str) -> Callable[[str], str]:
    """An argparse ``type=``: the canonical name, or an argparse error listing every accepted spelling."""
    import argparse

    allowed = tuple(allowed)

    def parse(word: str) -> str:
        try:
            return kind(word, allowed, flag)
        except EdgeadError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = flag.lstrip("-")  # argparse names the type in its messages
    return parse
