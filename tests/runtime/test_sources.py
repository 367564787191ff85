import shutil
from pathlib import Path

import cv2
import pytest

from edgead_runtime.errors import SourceError
from edgead_runtime.sources import open_source


@pytest.fixture
def folder_with_corrupt(tmp_path: Path, bottle_images: list[Path]) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for path in bottle_images[:3]:
        shutil.copy(path, folder / f"{path.parent.name}_{path.name}")
    (folder / "broken_large_999.png").write_bytes(bottle_images[0].read_bytes()[:3000])
    (folder / "notes.txt").write_text("not an image, not listed")
    return folder


def test_folder_yields_sorted_items_and_an_error_item(folder_with_corrupt: Path) -> None:
    source = open_source(folder_with_corrupt)
    items = list(source)
    assert source.kind == "images" and source.total == 4
    assert [Path(i.name).name for i in items] == sorted(p.name for p in folder_with_corrupt.glob("*.png"))
    (bad,) = [i for i in items if i.error]
    assert Path(bad.name).name == "broken_large_999.png" and bad.frame is None
    assert all(i.frame is not None for i in items if i is not bad)


def test_single_file_and_glob(folder_with_corrupt: Path, bottle_images: list[Path]) -> None:
    assert [i.name for i in open_source(bottle_images[0])] == [str(bottle_images[0])]
    assert open_source(folder_with_corrupt / "good_*.png").total == 3


def test_video_file_frames(video_path: Path) -> None:
    source = open_source(video_path)
    items = list(source)
    assert source.kind == "video" and source.total == 5
    assert [i.name for i in items] == [f"{video_path}#frame={k}" for k in range(5)]
    assert items[0].frame.shape == (128, 128, 3)


@pytest.mark.parametrize(
    ("spec", "kind"), [("0", "camera"), ("/dev/video0", "camera"), ("rtsp://cam.local/stream", "url")]
)
def test_live_specs(spec: str, kind: str) -> None:
    source = open_source(spec)
    assert source.kind == kind and source.total is None


def test_unknown_sources(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="missing.png' is not a file, folder, glob"):
        open_source(tmp_path / "missing.png")
    with pytest.raises(SourceError, match="matches no image files"):
        open_source(tmp_path / "*.png")
    (tmp_path / "junk.avi").write_bytes(b"junk")
    with pytest.raises(SourceError, match=r"cannot open video .* that this cv2 can read it \(OpenCV .*FFMPEG"):
        list(open_source(tmp_path / "junk.avi"))


@pytest.fixture
def video_path(tmp_path: Path, bottle_images: list[Path]) -> Path:
    return write_video(tmp_path / "line.avi", bottle_images[:5])


def write_video(path: Path, images: list[Path]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 128))
    for image in images:
        writer.write(cv2.resize(cv2.imread(str(image)), (128, 128), interpolation=cv2.INTER_AREA))
    writer.release()
    return path
