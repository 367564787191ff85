"""The triton backend's model addresses, without a server (the served behaviour: tests/e2e/test_triton_serve.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgead_runtime.backends import backend_for
from edgead_runtime.backends.triton import parse_target
from edgead_runtime.errors import BackendError


@pytest.mark.parametrize(
    ("model", "url", "expected"),
    [
        ("triton://gpu-box:8001/pc", None, ("grpc", "gpu-box:8001", "pc")),
        ("triton+http://gpu-box:8000/pc/", None, ("http", "gpu-box:8000", "pc")),
        ("triton+grpc://gpu-box/pc", None, ("grpc", "gpu-box:8001", "pc")),  # Triton's default ports
        ("triton+http://gpu-box/pc", None, ("http", "gpu-box:8000", "pc")),
        (str(Path("triton://10.0.0.5:9001/bottle-pc")), None, ("grpc", "10.0.0.5:9001", "bottle-pc")),  # via argparse
        ("pc", "gpu-box:8001", ("grpc", "gpu-box:8001", "pc")),
        ("pc", "http://gpu-box:8000", ("http", "gpu-box:8000", "pc")),
    ],
)
def test_model_addresses(model: str, url: str | None, expected: tuple[str, str, str]) -> None:
    assert parse_target(model, url) == expected


@pytest.mark.parametrize(
    ("model", "url", "message"),
    [
        ("pc.onnx", None, "not a Triton model URL"),
        ("triton://a:8001/pc", "b:8001", "not both"),
        ("pc", "ftp://a:21", "use HOST:PORT"),
    ],
)
def test_bad_addresses_say_what_to_write(model: str, url: str | None, message: str) -> None:
    with pytest.raises(BackendError, match=message):
        parse_target(model, url)


def test_auto_backend_follows_the_scheme() -> None:
    assert backend_for("triton://h:8001/pc") == backend_for("triton+http://h:8000/pc") == "triton"
    assert backend_for(Path("triton://h:8001/pc")) == "triton"
    assert backend_for("model.onnx") == "onnxruntime"
