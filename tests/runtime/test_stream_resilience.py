"""The stream service survives a camera that drops out and stops cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgead_runtime.stream.pipeline import StreamConfig, run_stream

from .stream_helpers import MjpegServer, bottle_frames, read_events, read_video, wait_for, write_video


@pytest.fixture
def frames(bottle_images: list[Path]) -> list[np.ndarray]:
    return bottle_frames(bottle_images)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


def test_camera_killed_and_restarted_is_reopened_with_backoff(
    tmp_path: Path, frames: list[np.ndarray], model_path: Path
) -> None:
    """A loopback MJPEG camera dies mid-stream and comes back on the same port 1.5 s later."""
    server = MjpegServer(frames, fps=50).start()
    events, warnings = tmp_path / "ev.jsonl", []
    config = StreamConfig(model_path, server.url, events=events, max_frames=60, backoff=(0.1, 0.4), status_every=0)
    done: dict = {}
    thread = threading.Thread(
        target=lambda: done.update(s=run_stream(config, log=lambda m: None, warn=warnings.append))
    )
    thread.start()
    try:
        wait_for(lambda: _lines(events) >= 15, 30, "15 events before the outage")
        server.stop()
        wait_for(lambda: any("retrying in" in w for w in warnings), 30, "a failed reopen attempt")
        time.sleep(1.0)
        before = _lines(events)
        server.start()
        thread.join(timeout=60)
    finally:
        server.stop()
    assert not thread.is_alive()
    c = done["s"].counts
    records = read_events(events)
    assert c["reconnects"] == 1 and c["captured"] == 60
    assert len(records) == c["processed"] == c["captured"] - c["dropped"]  # nothing captured went missing
    assert len(records) > before  # it scored frames after the camera came back
    indices = [r["frame"] for r in records]
    assert indices == sorted(set(indices))
    waits = [float(w.split("retrying in ")[1].split()[0]) for w in warnings if "retrying in" in w]
    assert len(waits) >= 3 and waits[:3] == [0.1, 0.2, 0.4] and max(waits) == 0.4  # doubling, capped
    assert any("dropped out after frame" in w for w in warnings) and any("reopened after" in w for w in warnings)


def test_max_reconnects_gives_up_with_a_clear_error(model_path: Path) -> None:
    server = MjpegServer([np.zeros((8, 8, 3), np.uint8)]).start()
    url = server.url
    server.stop()  # nothing listens there now
    config = StreamConfig(model_path, url, max_reconnects=2, backoff=(0.05, 0.05), status_every=0)
    with pytest.raises(Exception, match="gave up on .* after 2 failed reopen attempts"):
        run_stream(config, log=lambda m: None, warn=lambda m: None)


@pytest.mark.parametrize(("sig", "mode"), [(signal.SIGINT, "--live"), (signal.SIGTERM, "--no-live")])
def test_signal_stops_cleanly_and_flushes_everything(
    tmp_path: Path, frames: list[np.ndarray], model_path: Path, sig: signal.Signals, mode: str
) -> None:
    """Live: frames may drop, but every scored one is logged. Lossless: the capture thread blocks on a full queue,
    and every frame captured before the signal is still scored and logged (none dropped)."""
    video = write_video(tmp_path / "line.avi", frames)
    events, out, summary = tmp_path / "ev.jsonl", tmp_path / "annotated.avi", tmp_path / "summary.json"
    code = "import sys; from edgead_runtime.cli import main; sys.exit(main())"
    cmd = [sys.executable, "-c", code, "run", str(model_path), "--source", str(video), "--loop", mode]
    cmd += ["--queue-size", "4"]
    cmd += ["--events", str(events), "--video-out", str(out), "--summary", str(summary), "--status-every", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _lines(events) >= 30, 60, "30 events")
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert f"stopped ({sig.name})" in stdout and "Traceback" not in stderr
    records = [json.loads(line) for line in events.read_text().splitlines()]  # every line whole
    s = json.loads(summary.read_text())
    assert len(records) == s["counts"]["processed"] == s["counts"]["captured"] - s["counts"]["dropped"]
    if mode == "--no-live":
        assert s["counts"]["dropped"] == 0 and [r["frame"] for r in records] == list(range(len(records)))
    assert s["outputs"]["video"]["frames"] == len(records)
    annotated = read_video(out)  # finalized: OpenCV reads it back whole
    assert len(annotated) == len(records)
    assert int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT)) == len(records)
