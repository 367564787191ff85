"""The stream's counters as Prometheus text and as the status line."""

from __future__ import annotations

import math

from edgead_runtime.stream.prometheus import Metrics


def _samples(text: str) -> dict[str, str]:
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_prometheus_counters_are_exact_and_floats_keep_their_precision() -> None:
    metrics = Metrics(labels={"model": 'a "quoted" name', "backend": "onnxruntime", "source": "0"})
    metrics.add("captured", 1_234_567)
    for latency in (0.0123456789, 0.02, 0.03):
        metrics.processed(latency, score=0.25, anomalous=False)
    metrics.processed(0.04, score=0.75, anomalous=True)
    samples = _samples(metrics.prometheus())
    assert samples["edgead_frames_captured_total"] == "1234567"  # not 1.23457e+06
    assert samples["edgead_frames_processed_total"] == samples["edgead_latency_seconds_count"] == "4"
    assert samples["edgead_anomalies_total"] == "1"
    assert float(samples["edgead_latency_seconds_sum"]) == 0.0123456789 + 0.02 + 0.03 + 0.04
    assert samples["edgead_last_score"] == "0.75"
    assert int(samples["edgead_resident_memory_bytes"]) % 1024 == 0  # whole bytes, from kB
    assert 'model="a \\"quoted\\" name"' in next(k for k in samples if k.startswith("edgead_info"))


def test_latency_quantiles_are_nan_before_the_first_frame() -> None:
    samples = _samples(Metrics().prometheus())
    assert math.isnan(float(samples['edgead_latency_seconds{quantile="0.5"}']))
    assert samples["edgead_frames_processed_total"] == "0"


def test_status_line_names_every_counter() -> None:
    metrics = Metrics()
    metrics.add("dropped", 3)
    metrics.add("corrupt", 2)
    metrics.processed(0.005, score=0.9, anomalous=True)
    line = metrics.status_line()
    for part in ("1 frames", "1 NG", "3 dropped", "2 corrupt", "0 reconnects", "rss"):
        assert part in line, part
