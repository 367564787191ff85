"""Decoder bombs and unreadable first images (issue 11, items 3 and 4): one bad file is that file's error alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgead_runtime.cli import main
from edgead_runtime.errors import ImageReadError
from edgead_runtime.preprocess import read_image
from edgead_runtime.sources import open_source

from .bombs import header_bomb, valid_grey_png

BUDGET_ENV = "EDGEAD_MAX_IMAGE_PIXELS"


@pytest.fixture
def bomb_folder(tmp_path: Path, bottle_images: list[Path]) -> Path:
    """A folder whose first image (by name) is a 60000x60000 header bomb, then a garbage file, then real images."""
    folder = tmp_path / "line"
    folder.mkdir()
    header_bomb(folder / "000_bomb.png")
    (folder / "001_garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    for path in bottle_images[:3]:
        shutil.copy(path, folder / f"{path.parent.name}_{path.name}")
    return folder


def test_header_bomb_is_an_unreadable_file_not_a_cv2_error(tmp_path: Path) -> None:
    bomb = header_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 100
    with pytest.raises(ImageReadError, match=r"60000x60000 .* over the budget .*EDGEAD_MAX_IMAGE_PIXELS"):
        read_image(bomb)


def test_pixel_budget_is_read_from_the_environment(bottle_images: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_image(bottle_images[0]).shape[:2] == (512, 512)
    monkeypatch.setenv(BUDGET_ENV, str(512 * 512 - 1))
    with pytest.raises(ImageReadError, match="512x512"):
        read_image(bottle_images[0])
    monkeypatch.setenv(BUDGET_ENV, str(512 * 512))
    assert read_image(bottle_images[0]).shape[:2] == (512, 512)


def test_a_valid_20000x20000_png_is_refused_before_decoding(tmp_path: Path) -> None:
    """The decode alone costs 400 MB (measured: 856 MB peak RSS for cv2.imread of this file); refused from its
    header, the process stays small."""
    big = valid_grey_png(tmp_path / "big.png", 20000, 20000)
    script = (  # VmHWM, not ru_maxrss: that one keeps the parent's (pytest's) peak across fork and exec
        "import sys\n"
        "from edgead_runtime.errors import ImageReadError\n"
        "from edgead_runtime.preprocess import read_image\n"
        "from edgead_runtime.system import memory_kb\n"
        "try:\n    read_image(sys.argv[1])\nexcept ImageReadError as exc:\n    print(exc)\n"
        "print(memory_kb()['peak_rss_kb'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != BUDGET_ENV}
    out = subprocess.run([sys.executable, "-c", script, str(big)], capture_output=True, text=True, env=env, check=True)
    message, peak_kb = out.stdout.strip().splitlines()
    assert "20000x20000" in message and "over the budget" in message
    assert int(peak_kb) < 300 * 1024, f"peak RSS {int(peak_kb) // 1024} MB: the image was decoded"


def test_predict_over_a_folder_with_a_bomb_goes_on(
    model_path: Path, bomb_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["predict", str(model_path), "--source", str(bomb_folder), "--json", str(out), "--batch", "2"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(line["path"]).name for line in lines] == sorted(p.name for p in bomb_folder.iterdir())
    assert "over the budget" in lines[0]["error"] and "error" in lines[1]
    assert all("score" in line for line in lines[2:])
    assert "3 frames" in capsys.readouterr().out


def test_run_on_a_folder_whose_first_image_is_unreadable_carries_on(
    model_path: Path, bomb_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "ev.jsonl"
    argv = ["run", str(model_path), "--source", str(bomb_folder), "--events", str(events), "--status-every", "0"]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "images '" in printed.out and "5 files" in printed.out
    assert "3 scored" in printed.out and "2 corrupt" in printed.out
    assert len(events.read_text().splitlines()) == 3


def test_describe_reads_headers_only(bomb_folder: Path) -> None:
    assert "60000x60000 (first image)" in open_source(bomb_folder).describe()  # the header, never decoded


def test_bench_source_bomb_is_one_line(model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bomb = header_bomb(tmp_path / "bomb.png")
    argv = ["bench", str(model_path), "--source", str(bomb), "--iters", "2", "--warmup", "1", "--no-memory"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("edgead-runtime: error: cannot read image") and "bomb.png" in err and "Traceback" not in err


def test_train_skip_corrupt_skips_a_bomb(tmp_path: Path, bottle_images: list[Path]) -> None:
    data = pytest.importorskip("edgead.train.data", reason="edgead (train side) is not installed")
    good = bottle_images[:2]
    bomb = header_bomb(tmp_path / "bomb.png")
    with pytest.raises(ImageReadError, match="bomb.png"):
        data.load_frames([bomb, *good], (32, 32))
    with pytest.warns(UserWarning, match="bomb.png"):
        frames, kept = data.load_frames([bomb, *good], (32, 32), skip_corrupt=True)
    assert kept == good and frames.shape == (2, 32, 32, 3)


def test_evaluate_names_the_bomb_in_one_line(
    tmp_path: Path, model_path: Path, bottle_images: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cli = pytest.importorskip("edgead.cli", reason="edgead (train side) is not installed")
    data = tmp_path / "data"
    good, broken = bottle_images[:3], bottle_images[3:]
    for folder, paths in (("train/good", good), ("test/good", good), ("test/broken_large", broken)):
        (data / folder).mkdir(parents=True)
        for path in paths:
            shutil.copy(path, data / folder / path.name)
    header_bomb(data / "test" / "good" / "999.png")
    assert cli.main(["evaluate", str(model_path), "--data", str(data)]) == 1
    err = capsys.readouterr().err
    assert "cannot read image" in err and "999.png" in err and "over the budget" in err and "Traceback" not in err
