"""``edgead-runtime serve``: edgead models on a real Triton Inference Server, run by any runtime backend.

NVIDIA's ``nvidia-pytriton`` wheel bundles ``tritonserver`` with its Python backend; each model here is a Python
model whose calls pytriton hands to this process, where the model runs on ONNX Runtime, OpenVINO or TensorRT
(``--backend``). Triton does the serving: HTTP and gRPC (KServe v2 protocol), dynamic batching across clients,
``/v2/health/live`` and ``/v2/health/ready``, Prometheus metrics. Each model's configuration carries the edgead
metadata in ``parameters``, so ``triton://`` clients need no copy of the model.

SIGTERM or SIGINT stops the server the way Triton stops: no new requests, in-flight ones finish (up to
``exit_timeout_s``), then the models close.

The Python backend's stub process links ``libpython3.X.so`` and must load the library of this very interpreter.
A Python built with ``--enable-shared`` (pyenv with that flag, Debian's /usr/bin/python3.X) has it in its LIBDIR,
which is put first on ``LD_LIBRARY_PATH`` here; docs/scale-out.md has the setups that work.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import sysconfig
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .backends import open_backend
from .backends.base import Backend
from .errors import EdgeadError, MissingDependencyError, ModelFileError
from .metadata import METADATA_KEY, OUTPUT_NAMES

Log = Callable[[str], None]


@dataclass(frozen=True)
class Ports:
    http: int = 8000
    grpc: int = 8001
    metrics: int = 8002
    host: str = "127.0.0.1"


def model_names(models: list[str]) -> list[tuple[str, str]]:
    """``NAME=PATH`` or ``PATH`` (name: the file stem) -> [(name, path)]; names are unique and Triton-safe."""
    pairs = []
    for spec in models:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).stem.split(".")[0], spec
        if not name or not all(c.isalnum() or c in "._-" for c in name):
            raise EdgeadError(f"model name '{name}' (from '{spec}') may hold only letters, digits, '.', '_', '-'")
        pairs.append((name, path))
    names = [n for n, _ in pairs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise EdgeadError(f"two models are named {dupes}; name them: edgead-runtime serve a=pc.onnx b=pc2.onnx")
    return pairs


def python_library_env(environ: dict[str, str]) -> str | None:
    """Put this interpreter's ``libpython3.X.so`` folder first on LD_LIBRARY_PATH; a warning if there is none."""
    libdir, library = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("LDLIBRARY")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and libdir and library and (Path(libdir) / library).exists():
        paths = [libdir, *[p for p in environ.get("LD_LIBRARY_PATH", "").split(":") if p and p != libdir]]
        environ["LD_LIBRARY_PATH"] = ":".join(paths)
        return None
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return (
        f"this Python ({sys.executable}, {sys.version.split()[0]}) has no shared libpython{version}.so, so Triton's "
        f"Python-backend stub will load whichever libpython{version}.so the system has; if the models fail to load, "
        f"serve from a venv made with the system's /usr/bin/python{version} (docs/scale-out.md)"
    )


def serve(
    models: list[str],
    backend: str = "auto",
    backend_options: dict[str, Any] | None = None,
    ports: Ports = Ports(),
    max_batch: int = 8,
    queue_delay_us: int = 1000,
    exit_timeout_s: int = 30,
    log: Log = lambda message: print(message, flush=True),
    stop: threading.Event | None = None,
) -> None:
    """Serve ``models`` until SIGTERM/SIGINT (or ``stop`` is set), then drain and close."""
    if max_batch < 1 or queue_delay_us < 0:
        raise EdgeadError(f"--max-batch must be >= 1 and --queue-delay-us >= 0, got {max_batch}, {queue_delay_us}")
    try:
        from pytriton.decorators import batch
        from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
        from pytriton.triton import Triton, TritonConfig
    except ImportError as exc:
        raise MissingDependencyError(
            f"serve needs NVIDIA's PyTriton ({exc}); pip install 'edgead-runtime[serve]' (in its own venv: it pins "
            "numpy<2; see docs/scale-out.md)"
        ) from exc
    warning = python_library_env(os.environ)
    if warning:
        log(f"edgead-runtime: warning: {warning}")
    logging.getLogger("pytriton").setLevel(logging.WARNING)
    stop = stop or threading.Event()
    backends: list[Backend] = []
    config = TritonConfig(
        http_address=ports.host,
        http_port=ports.http,
        grpc_address=ports.host,
        grpc_port=ports.grpc,
        metrics_address=ports.host,
        metrics_port=ports.metrics,
        exit_timeout_secs=exit_timeout_s,
    )
    triton = Triton(config=config)  # not started yet: models are bound (and their configs completed) first
    try:
        for name, path in model_names(models):
            model = open_backend(path, backend, **(backend_options or {}))
            backends.append(model)
            outputs = _output_specs(model, path)
            triton.bind(
                model_name=name,
                infer_func=batch(_infer_function(model, outputs)),
                inputs=[
                    Tensor(
                        name=model.input_name, dtype=np.uint8, shape=(model.metadata.height, model.metadata.width, 3)
                    )
                ],
                outputs=[Tensor(name=n, dtype=dtype, shape=dims) for n, (dtype, dims) in outputs.items()],
                config=ModelConfig(
                    max_batch_size=max_batch, batcher=DynamicBatcher(max_queue_delay_microseconds=queue_delay_us)
                ),
                strict=True,
            )
            _add_parameters(triton, name, {METADATA_KEY: model.metadata.to_json(), "edgead_backend": _describe(model)})
            meta = model.metadata
            log(
                f"model {name}: {path} ({meta.model}, {meta.backbone}, {meta.height}x{meta.width}) on "
                f"{model.name}, max batch {max_batch}, queue delay {queue_delay_us} us"
            )
        try:
            triton.run()
        except Exception as exc:  # PyTriton passes on the server's reason (a tritonclient or timeout error)
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise EdgeadError(
                f"Triton could not load the models ({reason}); the server log is above. A Python-backend stub "
                "failing inside threading or multiprocessing loaded another libpython than this interpreter's: "
                "serve from a venv of the system python3 (docs/scale-out.md)"
            ) from exc
        host = ports.host
        log(
            f"serving on http://{host}:{ports.http} (health: /v2/health/ready), grpc {host}:{ports.grpc}, "
            f"metrics http://{host}:{ports.metrics}/metrics"
        )
        for name, _ in model_names(models):
            log(f"client: edgead-runtime predict triton://{host}:{ports.grpc}/{name} --source DIR")
        log("ready; SIGTERM or Ctrl-C stops after in-flight requests finish")
        _wait(triton, stop)
    finally:
        if triton.is_alive():
            log("stopping: Triton finishes in-flight requests, then the models close")
        triton.stop()
        for model in backends:
            model.close()
    log("stopped")


def _output_specs(model: Backend, path: str) -> dict[str, tuple[type, tuple[int, ...]]]:
    """Per-item dims and dtype of each output, from one call on a black frame (which also warms the engine)."""
    missing = [n for n in OUTPUT_NAMES if n not in model.output_names]
    if model.metadata.part != "full" or missing:
        raise ModelFileError(f"'{path}' is a '{model.metadata.part}' graph without {missing}; serve the full model")
    out = model.run(np.zeros((1, model.metadata.height, model.metadata.width, 3), np.uint8))
    return {n: (out[n].dtype.type, tuple(int(d) for d in out[n].shape[1:]) or (1,)) for n in OUTPUT_NAMES}


def _infer_function(model: Backend, outputs: dict[str, tuple[type, tuple[int, ...]]]) -> Callable[..., dict]:
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        frames = inputs[model.input_name]
        out = model.run(frames)
        return {n: out[n].reshape(len(frames), *dims) for n, (_, dims) in outputs.items()}

    return infer


def _add_parameters(triton: Any, name: str, parameters: dict[str, str]) -> None:
    """Put ``parameters`` into the bound model's Triton configuration before the server loads it.

    PyTriton 0.7 has no public field for model parameters; its model keeps the generated configuration, whose
    ``backend_parameters`` become ``parameters`` (it uses them for its own workspace path). The serve test reads
    them back from the running server, so a PyTriton that changes this fails there, not at a customer's.
    """
    (model,) = [m for m in triton._model_manager.models if m.model_name == name]
    model._get_triton_model_config().backend_parameters.update(parameters)


def _describe(model: Backend) -> str:
    return json.dumps(model.describe(), sort_keys=True, default=str)


def _wait(triton: Any, stop: threading.Event) -> None:
    """Until SIGTERM/SIGINT or ``stop``; an error if the server or a model's handler dies meanwhile."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    try:
        while not stop.wait(0.5):
            if not triton.is_alive():
                raise EdgeadError("the Triton server stopped on its own; its log is above")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
