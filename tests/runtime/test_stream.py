"""`edgead-runtime run` on real video files and image folders through a real ONNX graph."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgead_runtime.cli import main
from edgead_runtime.detector import Detector
from edgead_runtime.errors import SourceError
from edgead_runtime.opencv import _from_build_info, capture_backends, has_gui
from edgead_runtime.sources import open_source
from edgead_runtime.stream.pipeline import FrameQueue, StreamConfig, run_stream

from .stream_helpers import (
    MjpegServer,
    bottle_frames,
    damage_mjpeg_frame,
    read_events,
    read_video,
    wait_for,
    write_video,
)


@pytest.fixture
def frames(bottle_images: list[Path]) -> list[np.ndarray]:
    return bottle_frames(bottle_images)  # 3 good + 3 broken_large, 128x128


@pytest.fixture
def video(tmp_path: Path, frames: list[np.ndarray]) -> Path:
    return write_video(tmp_path / "line.avi", frames)


def test_video_file_end_to_end(tmp_path: Path, video: Path, frames: list[np.ndarray], model_path: Path) -> None:
    events, out, saved, summary = (
        tmp_path / "ev.jsonl",
        tmp_path / "annotated.avi",
        tmp_path / "ng",
        tmp_path / "s.json",
    )
    argv = ["run", str(model_path), "--source", str(video), "--events", str(events), "--video-out", str(out)]
    argv += ["--save-dir", str(saved), "--summary", str(summary), "--batch", "4", "--status-every", "0"]
    assert main(argv) == 0

    records = read_events(events)
    assert [r["frame"] for r in records] == list(range(len(frames)))  # event count == frame count, in order
    with Detector(model_path) as detector:  # the same numbers as scoring the decoded frames directly
        expected = [detector.predict(f) for f in read_video(video)]
    assert [r["score"] for r in records] == pytest.approx([e.score for e in expected], abs=1e-6)
    assert [r["label"] for r in records] == ["NG" if e.is_anomalous else "OK" for e in expected]
    assert {"OK", "NG"} <= {r["label"] for r in records}, "fixture frames should fall on both sides"
    for key in ("timestamp", "raw_score", "latency_ms", "threshold", "source"):
        assert all(key in r for r in records), key

    annotated = read_video(out)
    assert len(annotated) == len(frames) and annotated[0].shape == frames[0].shape
    assert int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT)) == len(frames)

    ng = [r for r in records if r["label"] == "NG"]
    for r in ng:
        assert Path(r["image"]).is_file() and Path(r["heatmap"]).is_file()
        assert cv2.imread(r["image"]).shape == frames[0].shape
    assert len(list(saved.glob("*.png"))) == 2 * len(ng)

    s = json.loads(summary.read_text())
    assert s["stop_reason"] == "end of source"
    assert s["counts"]["captured"] == s["counts"]["processed"] == len(frames) and s["counts"]["dropped"] == 0
    assert s["counts"]["anomalies"] == len(ng)


def test_roi_scores_the_crop(tmp_path: Path, video: Path, model_path: Path) -> None:
    events = tmp_path / "ev.jsonl"
    config = StreamConfig(model_path, str(video), roi=(10, 20, 64, 48), events=events, status_every=0)
    summary = run_stream(config, log=lambda m: None)
    with Detector(model_path) as detector:
        expected = [detector.predict(f[20:68, 10:74]).score for f in read_video(video)]
    assert [r["score"] for r in read_events(events)] == pytest.approx(expected, abs=1e-6)
    assert summary.counts["processed"] == len(expected)
    with pytest.raises(Exception, match="reaches outside the 128x128 frame"):
        run_stream(StreamConfig(model_path, str(video), roi=(100, 0, 64, 48), status_every=0), log=lambda m: None)


def test_roi_that_stops_fitting_mid_run_skips_those_frames(
    tmp_path: Path, frames: list[np.ndarray], model_path: Path
) -> None:
    """A source that comes back at a smaller resolution: frames the ROI no longer fits are counted and skipped,
    the run goes on."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:02d}.png"), frame if i != 2 else frame[:60, :60])
    warnings: list[str] = []
    events = tmp_path / "ev.jsonl"
    config = StreamConfig(model_path, str(folder), roi=(10, 20, 64, 48), events=events, status_every=0)
    summary = run_stream(config, lambda m: None, warnings.append)
    assert summary.counts["corrupt"] == 1 and summary.counts["processed"] == len(frames) - 1
    assert [Path(r["source"]).name for r in read_events(events)] == [f"{i:02d}.png" for i in (0, 1, 3, 4, 5)]
    assert any("02.png: not usable for this model and --roi" in w for w in warnings)


def test_corrupt_image_is_counted_and_skipped(tmp_path: Path, bottle_images: list[Path], model_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for path in bottle_images[:3]:
        shutil.copy(path, folder / f"{path.parent.name}_{path.name}")
    (folder / "truncated.png").write_bytes(bottle_images[0].read_bytes()[:2000])
    warnings: list[str] = []
    events = tmp_path / "ev.jsonl"
    summary = run_stream(
        StreamConfig(model_path, str(folder), events=events, status_every=0), log=lambda m: None, warn=warnings.append
    )
    assert summary.counts["corrupt"] == 1 and summary.counts["processed"] == 3
    assert len(read_events(events)) == 3
    assert any("truncated.png" in w for w in warnings)


def test_corrupt_frame_inside_a_video_is_counted_and_skipped(
    tmp_path: Path, frames: list[np.ndarray], model_path: Path
) -> None:
    """A frame whose JPEG data is destroyed mid-file is skipped, and the frames after it are still scored."""
    video = damage_mjpeg_frame(write_video(tmp_path / "line.avi", frames, fourcc="MJPG"), 2)
    readable = read_video(video)
    assert len(readable) == 2, "OpenCV itself stops at the corrupt frame"
    warnings: list[str] = []
    events = tmp_path / "ev.jsonl"
    summary = run_stream(
        StreamConfig(model_path, str(video), events=events, status_every=0), lambda m: None, warnings.append
    )
    assert summary.stop_reason == "end of source"
    assert summary.counts["corrupt"] == 1 and summary.counts["processed"] == len(frames) - 1
    names = [r["source"] for r in read_events(events)]
    assert [n.rsplit("=", 1)[1] for n in names] == ["0", "1", "3", "4", "5"]
    assert any("undecodable frame 2" in w for w in warnings)


def test_metrics_endpoint_scraped_while_running(tmp_path: Path, frames: list[np.ndarray], model_path: Path) -> None:
    server = MjpegServer(frames, fps=60).start()
    logged: list[str] = []
    config = StreamConfig(model_path, server.url, metrics_port=0, status_every=0)
    done, stop = {}, threading.Event()
    thread = threading.Thread(target=lambda: done.update(summary=run_stream(config, log=logged.append, stop=stop)))
    thread.start()
    try:
        wait_for(lambda: any(m.startswith("metrics on ") for m in logged), 30, "the metrics server")
        url = next(m for m in logged if m.startswith("metrics on ")).split()[-1]

        def scrape() -> dict[str, float]:
            text = urllib.request.urlopen(url, timeout=5).read().decode()
            samples = {}
            for line in text.splitlines():
                if line and not line.startswith("#"):
                    name, value = line.rsplit(" ", 1)
                    samples[name] = float(value)
            return samples

        wait_for(lambda: scrape().get("edgead_frames_processed_total", 0) >= 5, 30, "5 scored frames")
        samples = scrape()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url.replace("/metrics", "/other"), timeout=5)
    finally:
        stop.set()
        thread.join(timeout=60)
        server.stop()
    assert samples["edgead_source_up"] == 1 and samples["edgead_fps"] > 0
    assert samples["edgead_frames_captured_total"] >= samples["edgead_frames_processed_total"] >= 5
    assert 0 < samples['edgead_latency_seconds{quantile="0.5"}'] <= samples['edgead_latency_seconds{quantile="0.99"}']
    assert samples["edgead_latency_seconds_count"] == samples["edgead_frames_processed_total"]
    for name in (
        "edgead_anomalies_total",
        "edgead_frames_dropped_total",
        "edgead_frames_corrupt_total",
        "edgead_reconnects_total",
        "edgead_resident_memory_bytes",
    ):
        assert name in samples, name
    assert any(k.startswith("edgead_info{") and 'backend="onnxruntime"' in k for k in samples)
    summary = done["summary"]
    assert summary.stop_reason == "stop requested" and summary.metrics_url == url
    assert summary.counts["processed"] >= samples["edgead_frames_processed_total"]


def test_drop_oldest_when_inference_falls_behind(tmp_path: Path, bottle_images: list[Path], model_path: Path) -> None:
    """A live source (a file flagged --live) faster than its sinks: saving two full-size PNGs per frame is the
    real bottleneck. Every captured frame is either scored (one event) or counted as dropped."""
    full = bottle_frames(bottle_images, size=(512, 512))
    video = write_video(tmp_path / "full.avi", full)
    events = tmp_path / "ev.jsonl"
    config = StreamConfig(
        model_path,
        str(video),
        live=True,
        loop=True,
        max_frames=40,
        queue_size=2,
        threshold=0.0,
        events=events,
        save_dir=tmp_path / "saved",
        status_every=0,
    )
    summary = run_stream(config, log=lambda m: None)
    c = summary.counts
    records = read_events(events)
    assert c["captured"] == 40 and c["dropped"] > 0
    assert len(records) == c["processed"] == c["captured"] - c["dropped"]
    indices = [r["frame"] for r in records]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert indices[-1] == 39  # the newest frames survive; the oldest waiting ones were dropped
    gaps = sum(b - a - 1 for a, b in zip(indices, indices[1:], strict=False)) + indices[0]
    assert gaps == c["dropped"]


def test_video_played_as_a_camera_ends_at_its_end(tmp_path: Path, video: Path, model_path: Path) -> None:
    """--live on a file (rehearsing a line from a recording): frames may drop, but the end of the file is the end
    of the run, not a dropout to reopen forever."""
    logged: list[str] = []
    config = StreamConfig(model_path, str(video), live=True, status_every=0)
    summary = run_stream(config, log=logged.append, warn=logged.append)
    assert summary.stop_reason == "end of source" and summary.counts["reconnects"] == 0
    assert summary.counts["captured"] == len(read_video(video))
    assert any(m.startswith("OpenCV ") and "FFMPEG" in m for m in logged), "the capture backends are stated"
    frames = summary.counts["captured"]
    stated = f"source video '{video}': 10 fps, 128x128, {frames} frames (live, drops oldest when behind)"
    assert stated in logged, logged  # frame rate and resolution, as the file declares them


def test_frame_queue_policies() -> None:
    live: FrameQueue[int] = FrameQueue(2, drop_oldest=True)
    assert [live.put(i) for i in range(5)] == [0, 0, 1, 1, 1]
    assert live.get_many(10) == [3, 4]
    live.close()
    assert live.get_many(1) == [] and live.put(9) == -1

    lossless: FrameQueue[int] = FrameQueue(1, drop_oldest=False)
    lossless.put(0)
    got: list[int] = []
    producer = threading.Thread(target=lambda: lossless.put(1))
    producer.start()
    producer.join(timeout=0.2)
    assert producer.is_alive()  # blocked: no room, nothing dropped
    got += lossless.get_many(1)
    producer.join(timeout=5)
    got += lossless.get_many(1)
    assert got == [0, 1]


def test_capture_backend_check() -> None:
    import edgead_runtime.opencv as ocv

    found = capture_backends()
    assert set(found) == {"GSTREAMER", "FFMPEG", "V4L2"}
    assert _from_build_info(cv2.getBuildInformation()) == found  # both ways of asking agree
    pipeline = open_source("videotestsrc num-buffers=5 ! videoconvert ! appsink")
    assert pipeline.kind == "gstreamer" and pipeline.live
    if found["GSTREAMER"]:
        pipeline.check_backends()
    else:
        with pytest.raises(SourceError, match="needs OpenCV built with GSTREAMER.*JetPack's system OpenCV"):
            pipeline.check_backends()
    assert ocv.describe_build().startswith(f"OpenCV {cv2.__version__}")


def test_cli_errors_are_one_line(tmp_path: Path, video: Path, model_path: Path, capsys) -> None:
    base = ["run", str(model_path), "--source", str(video), "--status-every", "0"]
    assert main([*base, "--video-out", str(tmp_path / "x.gif")]) == 1
    assert "unknown video suffix '.gif'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--roi", "1,2,3"])
    assert "is not X,Y,W,H" in capsys.readouterr().err
    if not has_gui():
        assert main([*base, "--show"]) == 1
        assert "--show needs an OpenCV built with a GUI" in capsys.readouterr().err
    blocker = MjpegServer([np.zeros((8, 8, 3), np.uint8)]).start()  # something already listening on the port
    try:
        assert main([*base, "--metrics-port", str(blocker.port)]) == 1
        assert f"cannot serve metrics on 127.0.0.1:{blocker.port}" in capsys.readouterr().err
    finally:
        blocker.stop()
