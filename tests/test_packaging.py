"""The runtime distribution installs and runs without torch; the CLIs start without importing it.

``test_runtime_installs_and_predicts_in_a_fresh_venv_without_torch`` is the proof docs/design.md asks CI
for ("runtime/ must import and run in an environment without torch, and CI proves it in a fresh
venv"): it builds ``runtime/`` as a normal (non-editable) install from PyPI dependencies into a new
venv, first without extras (no onnxruntime build: ``info`` names the ``[cpu]``/``[gpu]`` extras, and a
command that needs cv2 fails with one clear line naming ``[opencv]``), then with ``[cpu,opencv]``, and
compares its predictions with the dev environment's on real images. It needs PyPI and
takes about a minute; it is part of the default run on purpose. It runs again on Python 3.10, the
runtime's floor (JetPack 6), when a 3.10 interpreter is found.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = "Scripts" if os.name == "nt" else "bin"


def _clean_env() -> dict[str, str]:
    """The environment minus anything that would leak the dev venv into a child process."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1")
    return env


def _run(cmd: list[str], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=_clean_env(),
        stdin=subprocess.DEVNULL,
    )


def _jsonl_by_path(path: Path) -> dict[str, dict]:
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {Path(r["path"]).name: r for r in records}


def _oldest_supported_python() -> str:
    """A Python 3.10 interpreter (the runtime's floor: JetPack 6 ships 3.10): $EDGEAD_PYTHON310, python3.10 on
    PATH, or a pyenv install; skips when none runs."""
    candidates = [os.environ.get("EDGEAD_PYTHON310"), shutil.which("python3.10")]
    candidates += sorted(
        str(p) for p in Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")).glob("versions/3.10*/bin/python3.10")
    )
    for candidate in filter(None, candidates):
        done = _run([candidate, "-c", "import sys, venv; print(sys.version_info[:2])"], timeout=60)
        if done.returncode == 0 and done.stdout.strip() == "(3, 10)":
            return candidate
    pytest.skip("no Python 3.10 interpreter found (set EDGEAD_PYTHON310 to one) to prove the runtime's 3.10 floor")


@pytest.mark.parametrize("interpreter", ["current", "python3.10"])
def test_runtime_installs_and_predicts_in_a_fresh_venv_without_torch(
    trained: Callable, tmp_path: Path, interpreter: str
) -> None:
    from edgead_runtime.cli import main as runtime_main

    base_python = sys.executable if interpreter == "current" else _oldest_supported_python()

    t = trained("patchcore")

    # a few real test images, good and defective, in one flat folder
    images = tmp_path / "images"
    images.mkdir()
    for defect in ("good", "broken_large"):
        for src in sorted((t.data / "test" / defect).iterdir())[:3]:
            (images / f"{defect}_{src.name}").symlink_to(src.resolve())

    # a copy of the runtime sources, so the build writes nothing into the repo that others work in
    src = tmp_path / "runtime-src"
    shutil.copytree(REPO / "runtime", src, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    done = _run([base_python, "-m", "venv", venv], timeout=120)
    assert done.returncode == 0, done.stderr
    python, cli = venv / BIN / "python", venv / BIN / "edgead-runtime"
    # no extras (a Jetson with JetPack's onnxruntime-gpu and OpenCV, here absent): no ONNX Runtime build is pulled in
    # (the CPU one would overwrite a GPU one, microsoft/onnxruntime#26996), and each command says which extra to add
    done = _run([python, "-m", "pip", "install", "-q", src], timeout=600, cwd=tmp_path)
    assert done.returncode == 0, f"pip install runtime failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    done = _run([python, "-c", "import onnxruntime"], timeout=60, cwd=tmp_path)
    assert done.returncode != 0, "the runtime's base install pulled in an onnxruntime build"
    done = _run([cli, "info", t.onnx], timeout=120, cwd=tmp_path)  # opens the graph, needs no OpenCV
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "onnxruntime is not installed" in done.stderr and "edgead-runtime[cpu]" in done.stderr, done.stderr
    done = _run([cli, "predict", t.onnx, "--source", images], timeout=120, cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "OpenCV (cv2) is not importable" in done.stderr and "edgead-runtime[opencv]" in done.stderr, done.stderr
    done = _run([python, "-m", "pip", "install", "-q", f"{src}[cpu,opencv]"], timeout=600, cwd=tmp_path)
    assert done.returncode == 0, f"pip install runtime[cpu,opencv]:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    done = _run([python, "-m", "pip", "list", "--format", "json"], timeout=60, cwd=tmp_path)
    dists = {d["name"].lower() for d in json.loads(done.stdout)}
    assert "onnxruntime" in dists and "onnxruntime-gpu" not in dists, sorted(dists)

    done = _run([python, "-c", "import torch"], timeout=60, cwd=tmp_path)
    assert done.returncode != 0 and "torch" in done.stderr, "torch is importable in the fresh runtime venv"
    done = _run([python, "-c", "import edgead_runtime; print(edgead_runtime.__file__)"], timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).resolve().is_relative_to(venv.resolve()), done.stdout  # not the repo's copy

    fresh_out = tmp_path / "fresh.jsonl"
    done = _run([cli, "predict", t.onnx, "--source", images, "--json", fresh_out], timeout=300, cwd=tmp_path)
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"

    dev_out = tmp_path / "dev.jsonl"
    assert runtime_main(["predict", str(t.onnx), "--source", str(images), "--json", str(dev_out)]) == 0

    fresh, dev = _jsonl_by_path(fresh_out), _jsonl_by_path(dev_out)
    assert len(fresh) == len(list(images.iterdir())) == 6
    assert fresh.keys() == dev.keys()
    for name in dev:
        assert "error" not in fresh[name], fresh[name]
        assert fresh[name]["score"] == pytest.approx(dev[name]["score"], abs=1e-5), name
        assert fresh[name]["raw_score"] == pytest.approx(dev[name]["raw_score"], rel=1e-5, abs=1e-5), name
        assert fresh[name]["is_anomalous"] == dev[name]["is_anomalous"], name
    # the scores are not degenerate: defective images outrank good ones in both environments
    good = np.mean([r["raw_score"] for n, r in fresh.items() if n.startswith("good_")])
    bad = np.mean([r["raw_score"] for n, r in fresh.items() if n.startswith("broken_large_")])
    assert bad > good

    # the stream service too (threads, queues, sinks): a video of those images, one event per frame
    import cv2

    video, events = tmp_path / "line.avi", tmp_path / "events.jsonl"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (256, 256))
    for path in sorted(images.iterdir()):
        writer.write(cv2.resize(cv2.imread(str(path)), (256, 256)))
    writer.release()
    done = _run([cli, "run", t.onnx, "--source", video, "--events", events, "--batch", "2"], timeout=300, cwd=tmp_path)
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert [json.loads(line)["frame"] for line in events.read_text().splitlines()] == list(range(6))


def _console_script(name: str) -> list[str]:
    script = Path(sys.executable).parent / name
    if script.is_file():
        return [str(script)]
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"console script '{name}' is not installed beside {sys.executable} nor on PATH")
    return [found]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("edgead", ("train", "export", "evaluate")), ("edgead-runtime", ("predict", "bench", "info"))],
)
def test_cli_help_is_quick(name: str, expected: tuple[str, ...]) -> None:
    start = time.perf_counter()
    done = _run([*_console_script(name), "--help"], timeout=60)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    for word in expected:
        assert word in done.stdout
    # a torch import alone takes seconds; the help must not pay for it (generous bound for a loaded CI box)
    assert seconds < 10, f"{name} --help took {seconds:.1f} s"


def test_edgead_help_does_not_import_torch() -> None:
    code = (
        "import sys; from edgead.cli import build_parser; build_parser(model_options=False); "
        "print('torch' in sys.modules)"
    )
    done = _run([sys.executable, "-c", code], timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", "building the edgead parser (no `train`) imports torch"

    # and the real entry point, with torch made unimportable
    blocked = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('torch is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from edgead.cli import main\n"
        "for argv in (['--help'], ['export', '--help'], ['evaluate', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, (argv, exc.code)\n"
        "print('ok')\n"
    )
    done = _run([sys.executable, "-c", blocked], timeout=60)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr


# ---------------------------------------------------------------- the edgead wheel: complete by construction

TINY_MODEL = '''"""A test-only model: squared distance of each feature vector to the training mean."""

from dataclasses import dataclass, field

import torch
from torch import nn

from .. import register_model


@register_model("tiny")
class Tiny(nn.Module):
    default_layers = (1,)

    @dataclass
    class Options:
        tiny_gain: float = field(default=1.0, metadata={"help": "multiplies the distance (tiny's only option)"})

    def __init__(self, backbone, options):
        super().__init__()
        self.backbone, self.options = backbone, options
        self.register_buffer("mean", torch.zeros(0))

    @torch.no_grad()
    def fit(self, batches):
        self.mean = torch.cat([self.backbone(images)[0] for images in batches]).mean((0, 2, 3))

    def forward(self, images):
        feats = self.backbone(images)[0]
        return self.options.tiny_gain * (feats - self.mean[None, :, None, None]).pow(2).sum(1), None
'''


def _source_files(root: Path) -> dict[str, Path]:
    """Every file the edgead wheel must hold, by its path inside the wheel: all modules, and the data files
    read at run time (export/*.json), under their import names (train/ -> edgead/train/)."""
    files = {}
    for folder, prefix in (("edgead", "edgead"), ("train", "edgead/train"), ("export", "edgead/export")):
        for path in (root / folder).rglob("*"):
            if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
                files[f"{prefix}/{path.relative_to(root / folder).as_posix()}"] = path
    return files


@pytest.fixture(scope="module")
def wheel_with_tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the repository's tracked files plus one new folder, train/models/tiny/ (nothing else edited),
    built into a wheel with ``pip wheel`` (not the editable install CI uses). Returns (source copy, wheel)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (REPO / name).is_file() and not name.startswith(("tests/", "benchmarks/", "docs/", "runtime/")):
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    (src / "train/models/tiny").mkdir()
    (src / "train/models/tiny/__init__.py").write_text("from .torch_model import Tiny\n\n__all__ = ['Tiny']\n")
    (src / "train/models/tiny/torch_model.py").write_text(TINY_MODEL)
    done = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", src, "-w", tmp / "dist"], timeout=600)
    assert done.returncode == 0, f"pip wheel failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    (wheel,) = (tmp / "dist").glob("edgead-*.whl")
    return src, wheel


def test_built_wheel_holds_every_model_folder_and_data_file(wheel_with_tiny_model: tuple[Path, Path]) -> None:
    import zipfile

    src, wheel = wheel_with_tiny_model
    inside = set(zipfile.ZipFile(wheel).namelist())
    expected = _source_files(src)
    missing = sorted(set(expected) - inside)
    assert not missing, f"{wheel.name} lacks {missing}"
    models = sorted(p.parent.name for p in (src / "train/models").glob("*/__init__.py"))
    assert {"patchcore", "dfm", "stfpm", "reverse_distillation", "stad", "tiny"} <= set(models)
    for model in models:
        assert f"edgead/train/models/{model}/__init__.py" in inside, model
    assert "edgead/export/trt_onnx_operators.json" in inside  # read by `edgead doctor` at run time
    assert not any(name.startswith(("train/", "export/", "tests/")) for name in inside)  # no top-level train/export


def _unpacked(wheel: Path, tmp_path: Path) -> tuple[Callable[..., subprocess.CompletedProcess[str]], dict[str, str]]:
    """The wheel installed by unpacking it (pure Python) onto PYTHONPATH (edgead_runtime: this venv's); a runner
    for `python -m edgead.cli ARGS` with it, and its environment. cwd is tmp_path, so the repo's edgead/ is not
    on sys.path."""
    import zipfile

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**_clean_env(), "PYTHONPATH": str(site)}

    def edgead(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "edgead.cli", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)

    return edgead, env


def test_a_new_model_folder_is_in_the_help_the_registry_and_the_wheel(
    wheel_with_tiny_model: tuple[Path, Path], tmp_path: Path
) -> None:
    """Adding a model is one folder under train/models/: the wheel built from the tree with that one folder added
    lists it in `edgead train --help` and registers it."""
    edgead, env = _unpacked(wheel_with_tiny_model[1], tmp_path)
    done = edgead("train", "--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "tiny options" in text and "--tiny-gain" in text and "tiny's only option" in text
    assert "{dfm,patchcore,reverse_distillation,stad,stfpm,tiny}" in done.stdout.replace("\n", "").replace(" ", "")

    code = (
        "import edgead, edgead.train.models as m; print(edgead.__file__); print(m.model_names()); "
        "print(m.get_model_class('tiny').__module__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    where, names, module = done.stdout.split("\n")[:3]
    assert (
        Path(where).resolve().is_relative_to((tmp_path / "site").resolve())
    )  # the wheel's copy, not the editable install
    assert "'tiny'" in names and module == "edgead.train.models.tiny.torch_model"


@pytest.mark.slow  # 18 s on an idle 2-core machine, a minute on a loaded one
def test_a_new_model_folder_trains_from_the_wheel(wheel_with_tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    """...and `edgead train --model tiny` trains it (12 noise images, 64 px) with its own option."""
    import cv2

    edgead, _ = _unpacked(wheel_with_tiny_model[1], tmp_path)
    images = tmp_path / "good"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        cv2.imwrite(str(images / f"{i:02d}.png"), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    done = edgead(
        "train",
        "--model",
        "tiny",
        "--data",
        str(images),
        "--image-size",
        "64",
        "--tiny-gain",
        "2",
        "--out",
        str(tmp_path / "run"),
    )
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"] == "tiny" and config["options"] == {"tiny_gain": 2.0} and config["layers"] == [1]
