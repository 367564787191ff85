from pathlib import Path

import pytest

from edgead_runtime.bench import LatencyStats, bench_model, format_report, time_callable, time_interleaved


def test_time_callable_excludes_warmup_and_builds_input_once() -> None:
    calls: list[int] = []
    made: list[int] = []
    stats = time_callable(calls.append, lambda: made.append(1) or 7, warmup=3, iters=5)
    assert calls == [7] * 9 and made == [1]  # 3 warm-up, 1 settling call, 5 timed
    assert stats.iters == 5 and 0 <= stats.p50_ms <= stats.p90_ms <= stats.p99_ms


def test_interleaved_alternates_calls_in_blocks() -> None:
    order: list[str] = []
    a, b = time_interleaved([lambda: order.append("a"), lambda: order.append("b")], warmup=1, iters=3, block=2)
    # warm-up, then per round one untimed settling call and up to `block` timed calls of each
    assert "".join(order) == "ab" + "aaa" + "bbb" + "aa" + "bb"
    assert a.iters == b.iters == 3


def test_stats_from_known_samples() -> None:
    stats = LatencyStats.from_seconds([0.001, 0.002, 0.003])
    assert stats.mean_ms == pytest.approx(2.0) and stats.p50_ms == pytest.approx(2.0)
    assert stats.std_ms == pytest.approx(1.0)
    with pytest.raises(ValueError, match="iters must be >= 1"):
        time_interleaved([print], iters=0)


def test_bench_model_synthetic_frame(model_path: Path) -> None:
    report = bench_model([model_path], batch_sizes=(1, 4), warmup=1, iters=3)
    (target,) = report["targets"]
    assert report["settings"]["frame_size"] == [96, 128] and report["settings"]["source"] is None  # 2x model size
    assert report["decode"]["iters"] == 3  # the synthetic frame is written as a PNG and decoded like a real one
    assert [g["batch"] for g in target["batches"]] == [1, 4]
    assert target["batches"][1]["fps"] == pytest.approx(4e3 / target["batches"][1]["mean_ms"])
    assert len(target["batches"][1]["samples_ms"]) == 3 and target["memory"] is None
    table = format_report(report)
    assert "fixture.onnx onnxruntime" in table and "| 4 |" in table and "synthetic (96x128)" in table
