"""Backend options: each Backend declares an ``Options`` dataclass, and the runtime CLIs' backend flags are
generated from those fields (``add_backend_args``) and read back (``backend_options``).

Both CLIs (``edgead-runtime predict|bench|info`` in ``cli.py`` and ``run`` in ``stream/command.py``) import
this module, which sits below them. A field becomes a flag when it was declared with ``option(flag=...)``;
backends that share a flag (``--threads``) share one argparse option, whose help names each backend.
Loading the flags imports every backend module in ``BACKENDS``, none of which imports an engine or numpy.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import BackendError


def option(
    default: Any = None, *, flag: str | None = None, help: str = "", type: Any = str, metavar: str | None = None
):  # noqa: A002
    """A field of a backend's ``Options``; ``flag`` (e.g. ``--threads``) makes it a runtime CLI flag."""
    return field(default=default, metadata={"flag": flag, "help": help, "type": type, "metavar": metavar})


def threads_option() -> Any:
    """``--threads``: the engine's intra-op thread count (ONNX Runtime, OpenVINO)."""
    return option(None, flag="--threads", type=int, metavar="N", help="intra-op threads (default: all cores)")


def device_option() -> Any:
    """``--device``: the CUDA device index (TensorRT, onnxruntime-gpu)."""
    return option(0, flag="--device", type=int, metavar="N", help="CUDA device (default 0)")


@dataclass(frozen=True)
class NoOptions:
    """A backend that takes no options."""


@dataclass
class Flag:
    """One generated CLI flag and the backends (and their option names) behind it."""

    flag: str
    type: Any
    metavar: str | None
    helps: dict[str, str]  # backend -> help
    fields: dict[str, str]  # backend -> Options field name

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


def flags() -> dict[str, Flag]:
    """Every option flag of every backend in ``BACKENDS``, in table order."""
    from . import BACKENDS, backend_class

    found: dict[str, Flag] = {}
    for name in BACKENDS:
        for f in dataclasses.fields(backend_class(name).Options):
            meta = f.metadata
            if not meta.get("flag"):
                continue
            entry = found.setdefault(meta["flag"], Flag(meta["flag"], meta["type"], meta["metavar"], {}, {}))
            if entry.type is not meta["type"]:
                raise TypeError(f"backend '{name}' declares {meta['flag']} as {meta['type']}, others as {entry.type}")
            entry.helps[name] = meta["help"]
            entry.fields[name] = f.name
    return found


def add_backend_args(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and one flag per backend option, generated from the backends' ``Options``."""
    from ..names import ENGINES, spellings
    from . import BACKENDS, backend_name

    def parse(word: str) -> str:
        try:
            return backend_name(word)
        except BackendError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = "backend"
    names = spellings({n: ENGINES.get(n, ()) for n in BACKENDS}, BACKENDS)
    parser.add_argument("--backend", default="auto", type=parse, help=f"auto (default: from the suffix), {names}")
    for entry in flags().values():
        helps = list(dict.fromkeys(entry.helps.values()))
        if len(helps) == 1:
            text = f"{', '.join(entry.helps)}: {helps[0]}"
        else:
            text = "; ".join(f"{backend}: {h}" for backend, h in entry.helps.items())
        parser.add_argument(entry.flag, type=entry.type, metavar=entry.metavar, default=None, help=text)


def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    """The option flags given on the command line, as ``open_backend`` keywords (field names).

    Which backend takes them is checked when it opens (with ``--backend auto`` that depends on each file).
    """
    options: dict[str, Any] = {}
    for entry in flags().values():
        value = getattr(args, entry.dest, None)
        if value is None:
            continue
        names = set(entry.fields.values())
        if len(names) > 1:  # one flag, two field names: a backend must follow the others' naming
            raise TypeError(f"{entry.flag} maps to several option names {sorted(names)}; use one")
        options[names.pop()] = value
    return options


def make_options(backend: str, cls: type, given: dict[str, Any]) -> Any:
    """``cls(**given)``; an option the backend lacks is a BackendError naming its flag and what it takes."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(given) - set(known))
    if unknown:
        flag_of = {e.fields[b]: e.flag for e in flags().values() for b in e.fields}
        named = ", ".join(f"{flag_of[k]} ({k})" if k in flag_of else k for k in unknown)
        takes = ", ".join(f"{f.metadata['flag']} ({n})" if f.metadata.get("flag") else n for n, f in known.items())
        raise BackendError(f"backend '{backend}' has no option {named}; it takes: {takes or 'no options'}")
    return cls(**given)
