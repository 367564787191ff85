"""Several sources in one `run`: one capture thread each, one detector batching across them, per-source events,
metrics and save folders; a source that dies holds up nobody."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgead_runtime.cli import main
from edgead_runtime.detector import Detector
from edgead_runtime.errors import SourceError
from edgead_runtime.stream.pipeline import StreamConfig, run_stream
from edgead_runtime.stream.prometheus import Metrics
from edgead_runtime.stream.queues import Batcher, FrameQueue
from edgead_runtime.stream.specs import SourceSpec, read_sources_file, resolve_names

from .graphs import BOTTLE
from .stream_helpers import MjpegServer, bottle_frames, read_events, read_video, wait_for, write_video

FRAMES_PER_VIDEO = 8


@pytest.fixture
def videos(tmp_path: Path) -> list[Path]:
    """Three lossless videos of real bottle test images, one per defect type (good, broken_large, contamination)."""
    out = []
    for kind in ("good", "broken_large", "contamination"):
        images = sorted((BOTTLE / kind).glob("*.png"))[:FRAMES_PER_VIDEO]
        if len(images) < FRAMES_PER_VIDEO:
            pytest.skip(f"real images not found under {BOTTLE / kind} (the shared data folder)")
        out.append(write_video(tmp_path / f"{kind}.avi", bottle_frames(images)))
    return out


def test_every_frame_of_every_source_scored_once_in_order(
    tmp_path: Path, videos: list[Path], model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    predict_batch = Detector.predict_batch

    def counting(self: Detector, frames: list[np.ndarray]) -> list:  # the real call, its batch sizes recorded
        batches.append(len(frames))
        return predict_batch(self, frames)

    monkeypatch.setattr(Detector, "predict_batch", counting)
    events, saved, summary = tmp_path / "ev.jsonl", tmp_path / "ng", tmp_path / "s.json"
    argv = ["run", str(model_path)] + [a for v in videos for a in ("--source", str(v))]
    argv += ["--batch", "4", "--max-wait-ms", "20", "--events", str(events), "--save-dir", str(saved)]
    assert main([*argv, "--summary", str(summary), "--status-every", "0"]) == 0
    assert max(batches) > 1 and sum(batches) == 3 * FRAMES_PER_VIDEO  # frames were batched, none twice

    records = read_events(events)
    assert len(records) == 3 * FRAMES_PER_VIDEO
    with Detector(model_path) as detector:
        for video in videos:
            mine = [r for r in records if r["source_id"] == video.stem]
            assert [r["frame"] for r in mine] == list(range(FRAMES_PER_VIDEO))  # each once, in order
            assert [r["source"] for r in mine] == [f"{video}#frame={k}" for k in range(FRAMES_PER_VIDEO)]
            expected = [detector.predict(f).score for f in read_video(video)]
            assert [r["score"] for r in mine] == pytest.approx(expected, abs=1e-6)
            ng = [r for r in mine if r["label"] == "NG"]
            assert all(Path(r["image"]).parent == saved / video.stem for r in ng)  # a save folder per source
            assert len(list((saved / video.stem).glob("*.png"))) == 2 * len(ng)

    s = json.loads(summary.read_text())
    assert s["stop_reason"] == "end of source" and s["counts"]["processed"] == len(records)
    assert {name: v["counts"]["processed"] for name, v in s["sources"].items()} == {
        v.stem: FRAMES_PER_VIDEO for v in videos
    }


def test_a_dead_source_does_not_delay_the_others(tmp_path: Path, bottle_images: list[Path], model_path: Path) -> None:
    """Three loopback MJPEG cameras; camera c is killed and never comes back. a and b keep their pace while c
    drops out, fails to reopen (0.5 s waits) and is given up; the run goes on and reports c's failure."""
    frames = bottle_frames(bottle_images)
    servers = {name: MjpegServer(frames, fps=30).start() for name in "abc"}
    events, warnings = tmp_path / "ev.jsonl", []
    specs = (
        SourceSpec(servers["a"].url, "a"),
        SourceSpec(servers["b"].url, "b"),
        SourceSpec(servers["c"].url, "c", max_reconnects=2),  # its own policy: give up after 2 failed reopens
    )
    config = StreamConfig(
        model_path, specs, batch=3, max_wait_ms=30, events=events, status_every=0, backoff=(0.5, 0.5), metrics_port=0
    )
    done, stop, logged = {}, threading.Event(), []
    thread = threading.Thread(target=lambda: done.update(s=run_stream(config, logged.append, warnings.append, stop)))
    thread.start()

    def of(name: str) -> list[dict]:
        return [r for r in read_events(events) if r["source_id"] == name] if events.is_file() else []

    try:
        wait_for(lambda: len(of("c")) >= 10, 30, "10 events from camera c")
        servers["c"].stop()
        killed = time.time()
        wait_for(lambda: any("source 'c' failed" in w for w in warnings), 30, "camera c given up")
        given_up = time.time()
        time.sleep(1.0)
        url = next(m for m in logged if m.startswith("metrics on ")).split()[-1]
        scraped = urllib.request.urlopen(url, timeout=5).read().decode()
    finally:
        stop.set()
        thread.join(timeout=60)
        for server in servers.values():
            server.stop()
    assert not thread.is_alive()
    summary = done["s"]
    assert "gave up on" in summary.sources["c"]["error"] and summary.sources["a"]["error"] is None
    assert given_up - killed >= 1.0  # c spent that long dropping out and retrying...
    for name in "ab":  # ...while a and b went on at their pace
        after = [r["timestamp"] for r in of(name) if r["timestamp"] > killed]
        assert len(after) >= 20, name
        assert max(np.diff([killed, *after])) < 0.4, f"{name} stalled while c was down"
        assert max(r["age_ms"] for r in of(name) if r["timestamp"] > killed) < 400
    c = of("c")
    assert [r["frame"] for r in c] == sorted({r["frame"] for r in c})
    samples = dict(line.rsplit(" ", 1) for line in scraped.splitlines() if line and not line.startswith("#"))
    assert samples['edgead_source_up{source="a"}'] == samples['edgead_source_up{source="b"}'] == "1"
    assert samples['edgead_source_up{source="c"}'] == "0"
    assert int(samples['edgead_frames_processed_total{source="c"}']) >= 10
    assert int(samples['edgead_frames_processed_total{source="a"}']) >= 20


def test_sources_file_names_and_policies(tmp_path: Path, videos: list[Path]) -> None:
    listing = tmp_path / "sources.json"
    entries = [str(videos[0]), {"source": str(videos[1]), "name": "line-2", "live": True, "roi": [0, 0, 64, 64]}]
    listing.write_text(json.dumps(entries))
    specs = resolve_names(read_sources_file(listing))
    assert [s.name for s in specs] == ["good", "line-2"] and specs[1].live and specs[1].roi == (0, 0, 64, 64)
    text = tmp_path / "sources.txt"
    text.write_text(f"# line 1\n{videos[0]}\n\n{videos[0]}\n0\n")
    assert [s.name for s in resolve_names(read_sources_file(text))] == ["good", "good-2", "camera0"]
    listing.write_text(json.dumps([{"source": "0", "fps": 30}]))
    with pytest.raises(SourceError, match=r"entry 0: unknown key\(s\) fps; allowed: backoff, live"):
        read_sources_file(listing)
    listing.write_text(json.dumps([{"source": "0", "backoff": [2, 1]}]))
    with pytest.raises(SourceError, match=r"entry 0: 'backoff' needs 0 < FIRST <= MAX, got \[2, 1\]"):
        read_sources_file(listing)
    with pytest.raises(SourceError, match="two sources are named 'x'"):
        resolve_names([SourceSpec("0", "x"), SourceSpec("1", "x")])


def test_sources_file_through_the_cli(tmp_path: Path, videos: list[Path], model_path: Path, capsys) -> None:
    listing = tmp_path / "sources.json"
    listing.write_text(json.dumps([{"source": str(v), "name": f"cam{k}"} for k, v in enumerate(videos[:2])]))
    events = tmp_path / "ev.jsonl"
    argv = ["run", str(model_path), "--sources", str(listing), "--events", str(events), "--status-every", "0"]
    assert main([*argv, "--video-out", str(tmp_path / "out.avi"), "--batch", "2"]) == 0
    printed = capsys.readouterr().out
    assert "cam0 (" in printed and "cam1 (" in printed
    for name in ("cam0", "cam1"):  # one annotated video per source
        assert len(read_video(tmp_path / f"out-{name}.avi")) == FRAMES_PER_VIDEO
    assert sorted({r["source_id"] for r in read_events(events)}) == ["cam0", "cam1"]
    assert main(["run", str(model_path), "--status-every", "0"]) == 1
    assert "no source given" in capsys.readouterr().err


def test_metrics_are_labelled_per_source() -> None:
    metrics = Metrics(labels={"model": "m"}, sources=("a", "b"))
    metrics.add("captured", 3, source="a")
    metrics.add("captured", 2, source="b")
    metrics.set("a", source_up=True)
    metrics.processed(0.01, 0.9, True, source="b")
    text = metrics.prometheus()
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert samples['edgead_frames_captured_total{source="a"}'] == "3"
    assert samples['edgead_frames_captured_total{source="b"}'] == "2"
    assert samples['edgead_anomalies_total{source="b"}'] == "1"
    assert samples['edgead_source_up{source="a"}'] == "1" and samples['edgead_source_up{source="b"}'] == "0"
    assert "edgead_frames_captured_total" not in samples  # no unlabelled sample to double-count in a sum()
    assert text.count("# TYPE edgead_frames_captured_total counter") == 1
    assert metrics.snapshot()["captured"] == 5 and "| a: 0 frames, 0 dropped, up" in metrics.status_line()


def test_batcher_takes_round_robin_and_waits_at_most_max_wait() -> None:
    cond = threading.Condition()
    queues: list[FrameQueue[str]] = [FrameQueue(8, False, cond) for _ in range(3)]
    for k in range(4):
        queues[0].put(f"a{k}")
    queues[1].put("b0")
    batcher = Batcher(queues, cond)
    assert batcher.get_many(4) == ["a0", "b0", "a1", "a2"]  # one per queue per turn; order kept per queue
    t0 = time.monotonic()
    assert batcher.get_many(4, max_wait=0.2) == ["a3"]  # waited for more, not longer than 0.2 s
    assert 0.15 < time.monotonic() - t0 < 1.0
    threading.Timer(0.05, lambda: queues[2].put("c0")).start()
    assert batcher.get_many(2, max_wait=0.1) == ["c0"]  # a frame put later wakes the waiting batcher
    for q in queues:
        q.close()
    assert batcher.get_many(4) == []


def test_one_source_keeps_the_single_source_outputs(tmp_path: Path, videos: list[Path], model_path: Path) -> None:
    """One source: save folder, video path, metrics and summary keep their single-source shape."""
    config = StreamConfig(model_path, str(videos[1]), save_dir=tmp_path / "ng", status_every=0, threshold=0.0)
    summary = run_stream(config, log=lambda m: None)
    assert summary.outputs["saved"]["path"] == str(tmp_path / "ng")
    assert len(list((tmp_path / "ng").glob("*_frame_*_heatmap.png"))) == FRAMES_PER_VIDEO
    assert list(summary.sources) == ["broken_large"] and summary.sources["broken_large"]["error"] is None
    (first,) = (tmp_path / "ng").glob("*_frame_00000000.png")  # <run id>_frame_<index>.png
    assert cv2.imread(str(first)).shape == (128, 128, 3)
