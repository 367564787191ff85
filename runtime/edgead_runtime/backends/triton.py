"""Triton Inference Server as a backend: the graph runs on a server, frames and results travel over gRPC or HTTP.

A model is named by URL: ``triton://HOST:PORT/NAME`` (gRPC, Triton's port 8001) or ``triton+http://HOST:PORT/NAME``
(HTTP, port 8000); or ``--backend triton --url HOST:PORT`` with NAME as the model. The server's model configuration
must be an edgead graph: one uint8 ``[H, W, 3]`` input, the four outputs, and the edgead metadata in its
``parameters`` (``edgead export --format triton`` and ``edgead-runtime serve`` both put it there), so a client needs
no local copy of the model. Results are the graph's own outputs, so predict, run, bench and evaluate print the same
numbers as with the file.

A server that goes away mid-run is treated like a camera that drops out: the call waits and retries with
exponential backoff (0.5 s doubling to 30 s) until the server serves the same model again, so no frame already
handed to the backend is lost; ``reconnect_s`` (``--reconnect-s``) bounds the wait (None: until stopped).
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BackendError, EdgeadError, MissingDependencyError, ModelFileError
from ..metadata import METADATA_KEY, OUTPUT_NAMES, ModelMetadata
from .base import Backend
from .options import option

if TYPE_CHECKING:  # numpy loads when a model is run, so the backend table stays cheap for `--help`
    import numpy as np

# The CLI turns the model argument into a Path, which folds "//" into "/": accept both.
_URL = re.compile(r"^triton(?:\+(?P<protocol>grpc|http))?:/{1,2}(?P<host>[^/]+)/(?P<name>[^/]+?)/?$")
_DEFAULT_PORTS = {"grpc": 8001, "http": 8000}
_TRANSIENT = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "unknown model", "not ready", "not found", "not live")
BACKOFF = (0.5, 30.0)  # first and longest wait between reconnect attempts, seconds (as for a camera)


def is_triton_url(text: str) -> bool:
    return bool(_URL.match(str(text)))


def parse_target(model: str, url: str | None = None) -> tuple[str, str, str]:
    """(protocol, "host:port", model name) from ``triton[+grpc|+http]://HOST[:PORT]/NAME`` or NAME + ``url``."""
    match = _URL.match(str(model))
    if match:
        if url:
            raise BackendError(f"give the server either in the model URL '{model}' or as --url {url}, not both")
        protocol, host, name = match["protocol"] or "grpc", match["host"], match["name"]
    elif url:
        scheme, _, host = str(url).rpartition("://")
        protocol = {"": "grpc", "grpc": "grpc", "http": "http"}.get(scheme)
        if protocol is None:
            raise BackendError(f"--url '{url}': use HOST:PORT (gRPC), grpc://HOST:PORT or http://HOST:PORT")
        name = str(model)
    else:
        raise BackendError(
            f"'{model}' is not a Triton model URL; use triton://HOST:PORT/NAME (gRPC), triton+http://HOST:PORT/NAME, "
            "or --backend triton --url HOST:PORT with the model's name"
        )
    if ":" not in host:
        host = f"{host}:{_DEFAULT_PORTS[protocol]}"
    return protocol, host, name


@dataclass(frozen=True)
class TritonOptions:
    url: str | None = option(
        flag="--url",
        metavar="HOST:PORT",
        help="the server (gRPC; http://HOST:PORT for HTTP) when MODEL is a model name, not triton://HOST:PORT/NAME",
    )
    reconnect_s: float | None = option(
        flag="--reconnect-s",
        type=float,
        metavar="S",
        help="give up after the server has been unreachable this long (default: keep retrying, as for a camera)",
    )


class TritonBackend(Backend):
    name = "triton"
    library = None  # the engine runs on the server; describe() records its version and the backend behind it
    Options = TritonOptions

    def __init__(self, target: tuple[str, str, str], config: dict[str, Any], reconnect_s: float | None) -> None:
        self.protocol, self.host, self.model_name = target
        self.url = f"triton{'+http' if self.protocol == 'http' else ''}://{self.host}/{self.model_name}"
        self.config = config
        metadata = served_metadata(config, self.url)
        self.max_batch = int(config.get("max_batch_size", 0)) or None  # None: the server does not split batches
        (inp,) = config["input"]
        outputs = {"score": ("N",), "anomaly_map": ("N", metadata.height, metadata.width), "raw_score": ("N",)}
        raw = next(o for o in config["output"] if o["name"] == "raw_anomaly_map")
        outputs["raw_anomaly_map"] = ("N", *[int(d) for d in raw["dims"]][-2:])
        super().__init__(self.url, metadata, inp["name"], ("N", metadata.height, metadata.width, 3), outputs)  # type: ignore[arg-type]
        self.reconnect_s = reconnect_s
        self._client: Any = None
        self.server_version = "unknown"

    @classmethod
    def _open(cls, path: str, options: TritonOptions) -> TritonBackend:
        """Connect to the server in ``path`` (or ``options.url``); check that it serves an edgead graph by that name."""
        target = parse_target(path, options.url)
        client = _connect(*target[:2])
        config = _model_config(client, target)
        backend = cls(target, config, options.reconnect_s)
        backend._client = client
        try:
            backend.server_version = str(_as_dict(client.get_server_metadata()).get("version", "unknown"))
        except Exception:  # the version is for reports only
            pass
        return backend

    def _run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        import numpy as np

        step = self.max_batch or len(batch)
        parts = [self._infer_until_served(batch[i : i + step]) for i in range(0, len(batch), step)]
        return {name: np.concatenate([p[name] for p in parts]) for name in OUTPUT_NAMES}

    def _infer_until_served(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        """One request; a server outage waits with backoff and reconnects instead of failing (see module doc)."""
        wait, down_since = BACKOFF[0], None
        while True:
            try:
                if self._client is None:
                    self._reconnect()
                out = self._infer(chunk)
                if down_since is not None:
                    _warn(f"{self.url} is back after {time.monotonic() - down_since:.1f} s; carrying on")
                return out
            except Exception as exc:
                if not _transient(exc):
                    if isinstance(exc, EdgeadError):  # already says what to do (e.g. another model came back)
                        raise
                    raise BackendError(f"Triton server refused a request for {self.url}: {_message(exc)}") from exc
                now = time.monotonic()
                down_since = down_since or now
                if self.reconnect_s is not None and now - down_since >= self.reconnect_s:
                    raise BackendError(
                        f"{self.url} has not answered for {now - down_since:.0f} s ({_message(exc)}); "
                        "is the server running? (--reconnect-s)"
                    ) from exc
                _warn(f"{self.url} unreachable ({_message(exc)}); retrying in {wait:.1f} s")
                self._drop_client()
                time.sleep(wait)
                wait = min(wait * 2, BACKOFF[1])

    def _infer(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        module = _client_module(self.protocol)
        inp = module.InferInput(self.input_name, list(chunk.shape), "UINT8")
        inp.set_data_from_numpy(chunk if chunk.flags.c_contiguous else chunk.copy())
        requested = [module.InferRequestedOutput(name) for name in OUTPUT_NAMES]
        result = self._client.infer(self.model_name, [inp], outputs=requested)
        out = {name: result.as_numpy(name) for name in OUTPUT_NAMES}
        for name in ("score", "raw_score"):  # [N, 1] on the wire (Triton's dims cannot be empty), [N] in the graph
            out[name] = out[name].reshape(len(chunk))
        return out

    def _reconnect(self) -> None:
        """A fresh client, once the server is live and serves the same model (same metadata) again."""
        client = _connect(self.protocol, self.host, quiet=True)
        config = _model_config(client, (self.protocol, self.host, self.model_name))
        if served_metadata(config, self.url).to_json() != self.metadata.to_json():
            raise BackendError(f"{self.url} came back serving another model (other edgead metadata); restart the run")
        self._client = client

    def _drop_client(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # a client of a dead server may fail to close; it is dropped either way
                pass
            self._client = None

    def describe(self) -> dict[str, Any]:
        params = self.config.get("parameters", {})
        served_by = params.get("edgead_backend", {}).get("string_value") or self.config.get("platform", "")
        return {
            "backend": self.name,
            "url": self.url,
            "server_version": self.server_version,
            "served_by": served_by or self.config.get("backend", "unknown"),
            "max_batch_size": self.max_batch,
            "precision": self.metadata.precision,
        }

    def close(self) -> None:
        self._drop_client()
        super().close()


def served_metadata(config: dict[str, Any], url: str) -> ModelMetadata:
    """The edgead metadata in a Triton model configuration; ModelFileError if it is not an edgead graph."""
    inputs, outputs = config.get("input", []), config.get("output", [])
    text = config.get("parameters", {}).get(METADATA_KEY, {}).get("string_value")
    if text is None:
        raise ModelFileError(
            f"{url} is not an edgead model: its configuration has no '{METADATA_KEY}' parameter; serve it with "
            "`edgead-runtime serve MODEL.onnx` or export it with `edgead export MODEL.onnx --format triton`"
        )
    metadata = ModelMetadata.from_json(text, source=url)
    names = sorted(o["name"] for o in outputs)
    dims = [int(d) for d in inputs[0].get("dims", [])] if len(inputs) == 1 else []
    batch_dims = [] if int(config.get("max_batch_size", 0)) else [-1]
    expected = [*batch_dims, metadata.height, metadata.width, 3]
    if len(inputs) != 1 or inputs[0].get("data_type") != "TYPE_UINT8" or dims != expected:
        got = [(i.get("name"), i.get("data_type"), i.get("dims")) for i in inputs]
        raise ModelFileError(f"{url} takes inputs {got}; an edgead graph takes one TYPE_UINT8 {expected} (BGR)")
    if not set(OUTPUT_NAMES) <= set(names):
        raise ModelFileError(f"{url} has outputs {names}; an edgead graph has {sorted(OUTPUT_NAMES)}")
    return metadata


def _connect(protocol: str, host: str, quiet: bool = False) -> Any:
    client = _client_module(protocol).InferenceServerClient(host)
    try:
        live = client.is_server_live()
    except Exception as exc:
        if quiet:
            raise
        raise BackendError(
            f"no Triton server answers {protocol} at {host} ({_message(exc)}); start one (`edgead-runtime serve "
            f"MODEL.onnx` or tritonserver --model-repository REPO) or fix the address"
        ) from exc
    if not live:
        raise BackendError(f"the Triton server at {host} is not live yet; retry when its health check passes")
    return client


def _model_config(client: Any, target: tuple[str, str, str]) -> dict[str, Any]:
    protocol, host, name = target
    if not client.is_model_ready(name):
        try:
            index = _as_dict(client.get_model_repository_index())
            entries = index.get("models", index) if isinstance(index, dict) else index
            served = sorted(str(m.get("name")) for m in entries)
            listed = f"; it has {served}"
        except Exception:  # the index may be a protected endpoint (pytriton protects it)
            listed = ""
        raise BackendError(f"model '{name}' is not ready on the Triton server at {host}{listed}")
    config = _as_dict(client.get_model_config(name))
    return config.get("config", config)


def _as_dict(reply: Any) -> Any:
    """gRPC replies are protobuf messages, HTTP replies are dicts; both as dicts with Triton's JSON names."""
    if isinstance(reply, dict | list):
        return reply
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(reply, preserving_proto_field_name=True)


def _client_module(protocol: str) -> Any:
    try:
        if protocol == "http":
            import tritonclient.http as module
        else:
            import tritonclient.grpc as module
    except ImportError as exc:
        raise MissingDependencyError(
            f"the triton backend needs tritonclient ({exc}); pip install 'edgead-runtime[triton]'"
        ) from exc
    return module


def _transient(exc: Exception) -> bool:
    """A server that is down, restarting or still loading the model, as opposed to a request it refuses."""
    if isinstance(exc, ConnectionError | OSError | TimeoutError):
        return True
    text = f"{getattr(exc, 'status', lambda: '')()} {_message(exc)}"
    return any(word in text for word in _TRANSIENT)


def _message(exc: BaseException) -> str:
    """The first line of what the client said (tritonclient's exceptions keep it in ``message()``)."""
    message = getattr(exc, "message", None)
    text = str(message() if callable(message) else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _warn(message: str) -> None:
    print(f"edgead-runtime: warning: {message}", file=sys.stderr, flush=True)
