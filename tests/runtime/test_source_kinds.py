"""Sources as types: the resolver table, one frame loop for `predict` and `run`, and a new kind as one class + one
table row (a test-only shared-memory feed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from edgead_runtime import sources
from edgead_runtime.cli import main
from edgead_runtime.detector import Detector
from edgead_runtime.sources import Reader, Source, open_source

from .stream_helpers import bottle_frames, damage_mjpeg_frame, read_events, write_video


def _predict_and_run(model: Path, spec: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple:
    """JSON lines of `predict`, events and summary of `run`, on the same source spec."""
    out, events, summary = tmp_path / "predict.jsonl", tmp_path / "events.jsonl", tmp_path / "summary.json"
    assert main(["predict", str(model), "--source", spec, "--json", str(out), "--batch", "2"]) == 0
    printed = capsys.readouterr()
    argv = ["run", str(model), "--source", spec, "--events", str(events), "--summary", str(summary)]
    assert main([*argv, "--batch", "2", "--status-every", "0"]) == 0
    printed_run = capsys.readouterr()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    return lines, read_events(events), json.loads(summary.read_text()), printed.out + printed.err, printed_run


def test_predict_and_run_agree_on_a_damaged_video(
    tmp_path: Path, bottle_images: list[Path], model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Frame 2's JPEG data destroyed: both commands skip it, count it once, and score the frames after it."""
    frames = bottle_frames(bottle_images)
    video = damage_mjpeg_frame(write_video(tmp_path / "line.avi", frames, fourcc="MJPG"), 2)
    lines, records, summary, predicted, _ = _predict_and_run(model_path, str(video), tmp_path, capsys)

    scored = [line for line in lines if "error" not in line]
    errors = [line for line in lines if "error" in line]
    assert [line["path"] for line in errors] == [f"{video}#frame=2"]
    assert "undecodable frame 2" in errors[0]["error"]
    assert [line["path"] for line in scored] == [r["source"] for r in records]  # same frames, same names
    assert [f"#frame={k}" for k in (0, 1, 3, 4, 5)] == [r["source"][len(str(video)) :] for r in records]
    assert [line["score"] for line in scored] == pytest.approx([r["score"] for r in records], abs=1e-6)
    assert summary["counts"]["corrupt"] == len(errors) == 1
    assert summary["counts"]["processed"] == len(scored) == len(frames) - 1
    assert "1 unreadable" in predicted and f"predicted {len(frames) - 1} frames" in predicted


class _Feed(Reader):
    def __init__(self, frames: list[np.ndarray | str]) -> None:
        self.frames, self.position = frames, 0

    def read(self) -> np.ndarray | str | None:
        if self.position >= len(self.frames):
            return None
        self.position += 1
        return self.frames[self.position - 1]

    def details(self) -> str:
        return f"{len(self.frames)} frames in the ring"


FEEDS: dict[str, list[np.ndarray | str]] = {}  # what another process would have written to shared memory


@dataclass(frozen=True)
class SharedMemoryFeed(Source):
    """A test-only kind, as a vendor SDK or a shared-memory ring would be: one class, one table row."""

    kind: ClassVar[str] = "shm"

    @classmethod
    def claim(cls, spec: str) -> SharedMemoryFeed | None:
        return cls(spec) if spec.startswith("shm://") else None

    def open(self) -> _Feed:
        name = self.spec.removeprefix("shm://")
        if name not in FEEDS:
            raise sources.SourceError(f"no shared-memory feed '{name}'")
        return _Feed(FEEDS[name])

    @property
    def total(self) -> int:
        return len(FEEDS[self.spec.removeprefix("shm://")])


@pytest.fixture
def shm_kind(monkeypatch: pytest.MonkeyPatch) -> type[Source]:
    monkeypatch.setattr(sources, "SOURCES", list(sources.SOURCES))  # the table is restored after the test
    sources.register_source(SharedMemoryFeed)  # first row: "shm://" would otherwise be claimed as a URL
    return SharedMemoryFeed


def test_a_new_source_kind_is_one_class_and_one_row(
    shm_kind: type[Source], tmp_path: Path, bottle_images: list[Path], model_path: Path, capsys
) -> None:
    frames = bottle_frames(bottle_images)
    FEEDS["line1"] = [frames[0], frames[1], "checksum mismatch in slot 2", *frames[3:]]
    source = open_source("shm://line1")
    assert isinstance(source, SharedMemoryFeed) and not source.live and source.total == len(frames)

    lines, records, summary, _, run_out = _predict_and_run(model_path, "shm://line1", tmp_path, capsys)
    with Detector(model_path) as detector:
        expected = [detector.predict(f).score for k, f in enumerate(frames) if k != 2]
    assert [line["score"] for line in lines if "error" not in line] == pytest.approx(expected, abs=1e-6)
    assert [r["score"] for r in records] == pytest.approx(expected, abs=1e-6)
    assert [line for line in lines if "error" in line] == [
        {"path": "shm://line1#frame=2", "error": "checksum mismatch in slot 2"}
    ]
    assert summary["counts"]["corrupt"] == 1 and summary["counts"]["processed"] == len(frames) - 1
    assert f"source shm 'shm://line1': {len(frames)} frames in the ring (file, lossless)" in run_out.out
    assert "OpenCV" not in run_out.out  # no capture backend asked of a kind that needs none


def test_without_its_row_the_spec_is_a_url() -> None:
    assert open_source("shm://line1").kind == "url"


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("0", "camera"),
        ("/dev/video2", "camera"),
        ("videotestsrc ! videoconvert ! appsink", "gstreamer"),
        ("rtsp://cam.local/stream", "url"),
    ],
)
def test_first_row_that_claims_wins(spec: str, kind: str) -> None:
    claimed = [k.kind for k in sources.SOURCES if k.claim(spec) is not None]
    assert claimed[0] == kind == open_source(spec).kind


@dataclass(frozen=True)
class SharedMemoryCamera(SharedMemoryFeed):
    """The same feed as a live camera: its end is a dropout, not the end."""

    live_by_default: ClassVar[bool] = True
    ends: ClassVar[bool] = False


def test_a_live_dropout_ends_predict_and_is_reopened_by_run() -> None:
    """The loop's policy decides, for every kind alike: predict's ends at a dropout, run's reopens and counts."""
    FEEDS["cam"] = [np.zeros((4, 4, 3), np.uint8)] * 2
    camera = SharedMemoryCamera("shm://cam")
    warnings: list[str] = []
    predicted = [item.name for item in camera]  # Source.__iter__: the loop with predict's policy
    assert predicted == ["shm://cam#frame=0", "shm://cam#frame=1"]

    ups, reconnects = [], []
    loop = sources.FrameLoop(
        camera, sources.LoopPolicy(), warn=warnings.append, on_up=ups.append, on_reconnect=lambda: reconnects.append(1)
    )
    names = []
    for item in loop:
        names.append(item.name)
        if len(names) == 5:
            break
    assert names == [f"shm://cam#frame={k}" for k in range(5)]  # numbering goes on across reopens
    assert len(reconnects) == 2 and ups[:3] == [True, False, True]
    assert "source 'shm://cam' dropped out after frame 1; reopening" in warnings
