"""One vocabulary for engines and precisions: every spelling the docs ever used still parses, to one meaning."""

import pytest

from edgead.cli import DOCTOR_TARGETS, build_parser
from edgead_runtime.backends import backend_name
from edgead_runtime.backends.onnxruntime_gpu import tensorrt_provider_options
from edgead_runtime.bench import parse_targets
from edgead_runtime.cli import _parser as runtime_parser
from edgead_runtime.errors import BackendError, EdgeadError
from edgead_runtime.names import engine, precision


@pytest.mark.parametrize(
    ("word", "name"),
    [("trt", "tensorrt"), ("tensorrt", "tensorrt"), ("TensorRT", "tensorrt"), ("ort", "onnxruntime"),
     ("onnxruntime", "onnxruntime"), ("openvino", "openvino"), ("ort-trt", "ort-trt"), ("ort-cuda", "ort-cuda")],
)  # fmt: skip
def test_engine_spellings(word: str, name: str) -> None:
    assert engine(word) == name


@pytest.mark.parametrize(
    ("word", "name"), [("fp32", "fp32"), ("f32", "fp32"), ("fp16", "fp16"), ("f16", "fp16"), ("bf16", "bf16"),
                       ("int8", "int8")],
)  # fmt: skip
def test_precision_spellings(word: str, name: str) -> None:
    assert precision(word) == name


def test_unknown_words_list_every_accepted_spelling() -> None:
    with pytest.raises(EdgeadError, match=r"precision 'fp8' is not one of: fp32 \(f32\), fp16 \(f16\), int8"):
        precision("fp8", ("fp32", "fp16", "int8"))
    with pytest.raises(EdgeadError, match=r"--format 'trtt' is not one of: onnx, openvino, tensorrt \(trt\)"):
        engine("trtt", ("onnx", "openvino", "tensorrt"), "--format")


@pytest.mark.parametrize("fmt", ["onnx", "openvino", "trt", "tensorrt"])
@pytest.mark.parametrize("prec", ["fp32", "f32", "fp16", "f16", "int8"])
def test_export_format_and_precision_spellings(fmt: str, prec: str) -> None:
    args = build_parser(model_options=False).parse_args(["export", "m.onnx", "--format", fmt, "--precision", prec])
    assert args.format == engine(fmt) and args.precision == precision(prec)


@pytest.mark.parametrize(
    ("word", "key"), [("trt", "trt"), ("tensorrt", "trt"), ("ort", "ort"), ("onnxruntime", "ort"),
                      ("openvino", "openvino")],
)  # fmt: skip
def test_doctor_target_spellings(word: str, key: str) -> None:
    args = build_parser(model_options=False).parse_args(["doctor", "m.onnx", "--target", word])
    assert DOCTOR_TARGETS[args.target] == key


def test_doctor_target_refuses_a_format_that_is_not_a_target(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser(model_options=False).parse_args(["doctor", "m.onnx", "--target", "ort-cuda"])
    assert "--target 'ort-cuda' is not one of: tensorrt (trt), onnxruntime (ort), openvino" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("word", "name"), [("auto", "auto"), ("onnxruntime", "onnxruntime"), ("ort", "onnxruntime"),
                       ("openvino", "openvino"), ("tensorrt", "tensorrt"), ("trt", "tensorrt"),
                       ("ort-trt", "ort-trt"), ("ort-cuda", "ort-cuda")],
)  # fmt: skip
@pytest.mark.parametrize("command", ["predict", "run", "info", "bench"])
def test_runtime_backend_spellings(command: str, word: str, name: str) -> None:
    argv = [command, "m.onnx", *(["--source", "0"] if command in ("predict", "run") else []), "--backend", word]
    assert runtime_parser().parse_args(argv).backend == name == backend_name(word)


@pytest.mark.parametrize("prec", ["f32", "fp32", "bf16", "f16", "fp16", "int8"])
def test_runtime_precision_spellings_parse(prec: str) -> None:
    assert runtime_parser().parse_args(["bench", "m.xml", "--precision", prec]).precision == prec


def test_ort_trt_precisions_mean_the_same_in_both_spellings() -> None:
    assert tensorrt_provider_options("f16") == tensorrt_provider_options("fp16")
    assert tensorrt_provider_options("f32") == tensorrt_provider_options("fp32") == tensorrt_provider_options()


def test_documented_compare_specs() -> None:
    specs = ["onnxruntime", "openvino:f32", "openvino:bf16", "ort-trt:f16", "trt", "ort"]
    targets = parse_targets(["m.onnx"], specs)
    assert [(t.backend, t.precision) for t in targets] == [
        ("onnxruntime", None), ("openvino", "f32"), ("openvino", "bf16"), ("ort-trt", "f16"), ("tensorrt", None),
        ("onnxruntime", None),
    ]  # fmt: skip
    with pytest.raises(BackendError, match="unknown backend 'tensorrtt'"):
        parse_targets(["m.onnx"], ["tensorrtt"])
