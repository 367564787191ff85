"""Evidence kept across restarts and full disks (issue 11, items 5 and 6): logs are appended, opened only once
there is something to write, saved files never overwrite each other, every write is checked."""

from __future__ import annotations

import json
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgead_runtime.cli import main
from edgead_runtime.outputs import ImageFolder, JsonLines
from edgead_runtime.stream.pipeline import StreamConfig, run_stream
from edgead_runtime.stream.prometheus import Metrics

from .stream_helpers import bottle_frames, read_events, write_video


@pytest.fixture
def line(tmp_path: Path, bottle_images: list[Path]) -> Path:
    folder = tmp_path / "line"
    folder.mkdir()
    for path in bottle_images[:4]:
        shutil.copy(path, folder / f"{path.parent.name}_{path.name}")
    return folder


def test_a_restart_keeps_both_runs_events_and_frames(tmp_path: Path, line: Path, model_path: Path) -> None:
    events, saved, video = tmp_path / "ev.jsonl", tmp_path / "ng", tmp_path / "annotated.avi"
    argv = ["run", str(model_path), "--source", str(line), "--events", str(events), "--save-dir", str(saved)]
    argv += ["--video-out", str(video), "--threshold", "0", "--status-every", "0"]  # every frame NG: saved
    assert main(argv) == 0
    first = read_events(events)
    assert main(argv) == 0  # the service manager restarts it under the same flags
    records = read_events(events)
    assert records[: len(first)] == first and len(records) == 2 * len(first) == 8
    runs = sorted({r["run"] for r in records})
    assert len(runs) == 2 and [r["run"] for r in records] == [runs[0]] * 4 + [runs[1]] * 4
    saved_files = sorted(saved.glob("*.png"))
    assert len(saved_files) == 2 * 2 * 4  # frame + heat map, 4 frames, 2 runs
    named = {Path(r[key]) for r in records for key in ("image", "heatmap")}
    assert named == set(saved_files)
    assert all(cv2.imread(str(p)) is not None for p in saved_files)
    videos = sorted(tmp_path.glob("annotated*.avi"))  # the first run's kept, the second's beside it
    assert [v.name for v in videos] == ["annotated-" + runs[1] + ".avi", "annotated.avi"]
    assert [int(cv2.VideoCapture(str(v)).get(cv2.CAP_PROP_FRAME_COUNT)) for v in videos] == [4, 4]


def test_a_start_that_fails_leaves_the_logs_as_they_were(tmp_path: Path, model_path: Path) -> None:
    events, out = tmp_path / "ev.jsonl", tmp_path / "out.jsonl"
    events.write_text('{"frame": 0}\n')
    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"not a video")
    argv = ["run", str(model_path), "--source", str(broken), "--events", str(events), "--status-every", "0"]
    assert main(argv) == 1
    assert events.read_text() == '{"frame": 0}\n'
    assert main(["predict", str(model_path), "--source", str(broken), "--json", str(out)]) == 1
    assert not out.exists()


def test_a_half_line_left_by_a_kill_is_ended_not_joined(tmp_path: Path, line: Path, model_path: Path) -> None:
    events = tmp_path / "ev.jsonl"
    events.write_text('{"frame": 0, "score": 0.1}\n{"frame": 1, "sco')  # kill -9 mid-line
    assert main(["run", str(model_path), "--source", str(line), "--events", str(events), "--status-every", "0"]) == 0
    lines = events.read_text().splitlines()
    assert lines[1] == '{"frame": 1, "sco' and [json.loads(x)["frame"] for x in lines[2:]] == [0, 1, 2, 3]


def test_predict_appends_and_overlays_never_collide(tmp_path: Path, bottle_images: list[Path], model_path: Path):
    for name in ("lineA", "lineB"):
        (tmp_path / name / "good").mkdir(parents=True)
        shutil.copy(bottle_images[0], tmp_path / name / "good" / "000.png")
    out, overlays = tmp_path / "out.jsonl", tmp_path / "overlays"
    for name in ("lineA", "lineB", "lineA"):
        argv = ["predict", str(model_path), "--source", str(tmp_path / name), "--json", str(out)]
        assert main([*argv, "--save-overlays", str(overlays)]) == 0
    assert [Path(json.loads(x)["path"]).parts[-3] for x in out.read_text().splitlines()] == ["lineA", "lineB", "lineA"]
    names = sorted(p.name for p in overlays.iterdir())
    assert len(names) == 3 and any("lineA_good_000" in n for n in names) and any("lineB_good_000" in n for n in names)


def test_json_lines_on_a_full_disk_lose_whole_lines_and_say_so_once() -> None:
    warnings: list[str] = []
    lost: list[int] = []
    log = JsonLines(Path("/dev/full"), "the event log", warnings.append, lambda: lost.append(1))
    assert [log.write({"frame": i}) for i in range(3)] == [False] * 3
    assert (log.count, log.lost, len(lost)) == (0, 3, 3)
    assert len(warnings) == 1 and "No space left on device" in warnings[0]


def test_image_folder_never_overwrites(tmp_path: Path) -> None:
    folder = ImageFolder(tmp_path / "ng", "--save-dir")
    image = np.zeros((4, 4, 3), np.uint8)
    paths = [folder.save("line/a b", image) for _ in range(3)]
    assert [p.name for p in paths] == ["line_a_b.png", "line_a_b-1.png", "line_a_b-2.png"] and folder.count == 3


def test_metrics_count_lost_outputs() -> None:
    metrics = Metrics()
    metrics.output_lost("events")
    metrics.output_lost("events")
    text = metrics.prometheus()
    assert 'edgead_outputs_lost_total{output="events"} 2' in text
    assert 'edgead_outputs_lost_total{output="saved"} 0' in text
    assert "LOST 2 events" in metrics.status_line()


def test_run_keeps_scoring_when_the_event_log_cannot_be_written(tmp_path: Path, line: Path, model_path: Path):
    warnings: list[str] = []
    config = StreamConfig(model_path, str(line), events=Path("/dev/full"), status_every=0)
    summary = run_stream(config, log=lambda m: None, warn=warnings.append)
    assert summary.counts["processed"] == 4
    assert summary.outputs["events"]["lines"] == 0 and summary.outputs["events"]["lost"] == 4
    assert sum("cannot write the event log" in w for w in warnings) == 1


def _file_size_limit(limit: int):
    def preexec() -> None:  # a real short write, then EFBIG: what a disk filling mid-line does to a write
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_a_full_disk_mid_run_never_cuts_a_line_and_counts_what_is_on_disk(
    tmp_path: Path, bottle_images: list[Path], model_path: Path
) -> None:
    video = write_video(tmp_path / "line.avi", bottle_frames(bottle_images))
    events, saved, limit = tmp_path / "ev.jsonl", tmp_path / "ng", 48 * 1024
    argv = ["run", str(model_path), "--source", str(video), "--loop", "--max-frames", "150", "--threshold", "0"]
    argv += ["--events", str(events), "--save-dir", str(saved), "--status-every", "0"]
    script = "import sys; from edgead_runtime.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", script, *argv], capture_output=True, text=True, preexec_fn=_file_size_limit(limit)
    )
    assert done.returncode == 0, done.stderr
    assert "150 scored" in done.stdout
    text = events.read_text()
    assert text.endswith("\n") and len(text.encode()) <= limit
    records = [json.loads(x) for x in text.splitlines()]  # every line whole
    wrote = re.search(r"wrote (\d+) events .* \((\d+) lost", done.stdout)
    assert wrote and int(wrote[1]) == len(records) and int(wrote[1]) + int(wrote[2]) == 150
    assert done.stderr.count("cannot write the event log") == 1
    pngs = list(saved.glob("*.png"))
    assert pngs and all(cv2.imread(str(p)) is not None for p in pngs)  # none cut short
    assert {Path(r["image"]) for r in records} <= set(pngs)
