"""The doctor's report (``Finding``, ``Report``) and the graph facts its checks read (``Graph``).

Split from ``doctor.py`` (the checks and ``diagnose``) so the check modules (``doctor_types.py``) and the doctor
share these without importing each other.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    severity: str  # error | warning | info
    check: str
    message: str
    fix: str = ""
    node: str = ""
    op: str = ""

    def line(self) -> str:
        where = f"node '{self.node}' ({self.op}): " if self.node else (f"{self.op}: " if self.op else "")
        fix = f"\n         fix: {self.fix}" if self.fix else ""
        return f"{self.severity.upper():7s} [{self.check}] {where}{self.message}{fix}"


@dataclass
class Report:
    path: str
    target: str
    trt_version: str | None
    findings: list[Finding] = field(default_factory=list)

    def add(self, severity: str, check: str, message: str, fix: str = "", node: str = "", op: str = "") -> None:
        self.findings.append(Finding(severity, check, message, fix, node, op))

    def count(self, severity: str) -> int:
        return sum(f.severity == severity for f in self.findings)

    @property
    def ok(self) -> bool:
        return self.count("error") == 0

    @property
    def label(self) -> str:
        """'8.5', '8.6', '10.x', '11.x': the major versions stand for every minor release."""
        return f"{self.trt_version}.x" if self.trt_version in ("10", "11") else str(self.trt_version)

    def target_name(self) -> str:
        return (
            f"TensorRT {self.label}" if self.target == "trt" else {"ort": "ONNX Runtime"}.get(self.target, "OpenVINO")
        )

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(s)} {s}{'s' if self.count(s) != 1 else ''}" for s in SEVERITIES)
        verdict = "ready" if self.ok else "NOT ready"
        return f"doctor: {Path(self.path).name} for {self.target_name()}: {counts}; {verdict}"

    def text(self) -> str:
        order = {s: i for i, s in enumerate(SEVERITIES)}
        lines = [f.line() for f in sorted(self.findings, key=lambda f: order[f.severity])]
        return "\n".join([*lines, self.summary()])

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "target": self.target,
            "trt_version": self.trt_version,
            "ok": self.ok,
            "counts": {s: self.count(s) for s in SEVERITIES},
            "summary": self.summary(),
            "findings": [asdict(f) for f in self.findings],
        }


# ---------------------------------------------------------------- graph facts


class Graph:
    """What the checks need to know about a model: producers, constants, types and shapes after inference."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        try:
            inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
        except Exception:  # noqa: BLE001 - a graph shape inference cannot handle still gets the other checks
            inferred = model
        self.inferred_ok = inferred is not model
        g = inferred.graph
        self.nodes = list(g.node)
        self.initializers = {t.name: t for t in g.initializer}
        self.inputs = [i for i in g.input if i.name not in self.initializers]
        self.outputs = list(g.output)
        self.value_info = {v.name: v for v in [*g.input, *g.value_info, *g.output]}
        self.producer = {o: n for n in self.nodes for o in n.output if o}
        self.constants = set(self.initializers) | {o for n in self.nodes if n.op_type == "Constant" for o in n.output}
        batch = self.inputs[0].type.tensor_type.shape.dim[0] if self.inputs and self._rank(self.inputs[0]) else None
        self.batch_symbols = {batch.dim_param} if batch is not None and batch.dim_param else set()

    @staticmethod
    def _rank(vi: onnx.ValueInfoProto) -> int:
        return len(vi.type.tensor_type.shape.dim) if vi.type.tensor_type.HasField("shape") else 0

    def dtype(self, name: str) -> int | None:
        if name in self.initializers:
            return self.initializers[name].data_type
        vi = self.value_info.get(name)
        return vi.type.tensor_type.elem_type if vi is not None and vi.type.HasField("tensor_type") else None

    def constant_value(self, name: str) -> np.ndarray | None:
        """The value of an initializer or Constant output held in the file (not external data), else None."""
        if name in self.initializers:
            t = self.initializers[name]
            if t.data_location == TensorProto.EXTERNAL:
                return None
            return numpy_helper.to_array(t)
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t)
                if a.name in ("value_int", "value_ints"):
                    return np.array(onnx.helper.get_attribute_value(a))
        return None

    def dynamic_dims(self, vi: onnx.ValueInfoProto) -> list[str]:
        """Dims of ``vi`` that are neither fixed nor a function of the batch symbol ('?' when unknown)."""
        if not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
            return []
        found = []
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_value"):
                continue
            symbols = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", d.dim_param))
            if not d.dim_param or not symbols or not symbols <= self.batch_symbols:
                found.append(d.dim_param or "?")
        return found


def attr(node: onnx.NodeProto, name: str) -> object:
    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return None


def label(node: onnx.NodeProto) -> str:
    return node.name or f"<unnamed {node.op_type} -> {node.output[0] if node.output else '?'}>"
