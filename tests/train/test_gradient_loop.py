"""The shared gradient training loop: early stopping, best-state restore, checkpoint, hooks, divergence,
and the schedule flags' checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import edgead.train.gradient_loop as gradient_loop
from edgead.train.config import TrainConfig
from edgead.train.fit import _schedule
from edgead.train.gradient_loop import CHECKPOINT, Schedule, fit_by_gradient, is_gradient_model
from edgead_runtime.errors import EdgeadError


class Regressor(nn.Module):
    """A real (tiny) gradient model: a 1x1 conv regressing a frozen random conv's output, with BN state."""

    default_epochs, fast_epochs, default_lr = 20, 2, 0.05

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.teacher = nn.Conv2d(3, 4, 1).requires_grad_(False)
        self.student = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
        self.calls: list[str] = []

    def prepare(self, batches) -> None:
        self.calls.append(f"prepare:{sum(len(b) for b in batches)}")

    def finalize(self, batches) -> None:
        self.calls.append(f"finalize:{sum(len(b) for b in batches)}")

    def make_optimizer(self, lr: float) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.student.parameters(), lr=lr)

    def loss(self, images: torch.Tensor) -> torch.Tensor:
        return (self.student(images) - self.teacher(images)).pow(2).mean()

    def forward(self, images: torch.Tensor):
        return (self.student(images) - self.teacher(images)).pow(2).sum(1), None


def to_images(frames: torch.Tensor) -> torch.Tensor:
    return frames.permute(0, 3, 1, 2).float() / 255.0


@pytest.fixture()
def frames() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8), rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)


def test_trains_keeps_the_best_epoch_and_writes_it_as_a_checkpoint(
    frames, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = Regressor()
    assert is_gradient_model(model)
    teacher_before = model.teacher.weight.clone()
    history = fit_by_gradient(model, to_images, *frames, Schedule(6, 0.05, 10, 4, 0), tmp_path)
    bars = capsys.readouterr().err
    for desc in ("preparing", "training", "held-out loss", "finalizing"):  # every pass over the images shows a bar
        assert f"{desc}:" in bars, desc
    assert len(history.train_loss) == 6 and not history.stopped_early
    assert history.train_loss[-1] < history.train_loss[0], history.train_loss
    assert history.best_epoch == int(np.argmin(history.val_loss))
    assert model.calls == ["prepare:12", "finalize:12"]
    assert not model.training
    assert torch.equal(model.teacher.weight, teacher_before), "frozen parameters must not move"
    saved = load_file(str(tmp_path / CHECKPOINT))
    assert {"student.0.weight", "student.1.running_mean"} <= set(saved)
    assert not any(k.startswith("teacher") for k in saved), "only trainable modules are checkpointed"
    for name, tensor in saved.items():  # the model holds the best epoch's weights, equal to the checkpoint
        assert torch.equal(model.state_dict()[name], tensor), name


def test_stops_early_and_restores_the_best_state(frames) -> None:
    model = Regressor()
    # a learning rate this large makes the held-out loss worse after the first epochs
    history = fit_by_gradient(model, to_images, *frames, Schedule(30, 3.0, 2, 4, 0))
    assert history.stopped_early and len(history.train_loss) < 30
    assert len(history.train_loss) - 1 - history.best_epoch == 2
    with torch.no_grad():
        restored = model.loss(to_images(torch.from_numpy(frames[1]))).item()
    assert restored == pytest.approx(history.val_loss[history.best_epoch], rel=1e-5)


def test_divergence_is_a_clear_error(frames) -> None:
    with pytest.raises(EdgeadError, match="diverged.*lower --lr"):
        fit_by_gradient(Regressor(), to_images, *frames, Schedule(5, 1e30, 5, 4, 0))


class NanOnHeldOut(Regressor):
    """Finite training loss, NaN held-out loss: what an overflow in eval-mode batch norm looks like."""

    def loss(self, images: torch.Tensor) -> torch.Tensor:
        loss = super().loss(images)
        return loss if self.training else loss * float("nan")


def test_a_nan_held_out_loss_is_a_clear_error_not_untrained_weights(frames, tmp_path: Path) -> None:
    with pytest.raises(EdgeadError, match=r"epoch 1 \(held-out loss nan\); lower --lr \(now 0.05\)"):
        fit_by_gradient(NanOnHeldOut(), to_images, *frames, Schedule(3, 0.05, 2, 4, 0), tmp_path)
    assert not (tmp_path / CHECKPOINT).exists(), "no epoch was good enough to keep"


@pytest.mark.parametrize("interrupt", [OSError("No space left on device"), KeyboardInterrupt()])
def test_a_failed_checkpoint_write_leaves_the_previous_checkpoint_intact(
    frames, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupt: BaseException
) -> None:
    fit_by_gradient(Regressor(), to_images, *frames, Schedule(2, 0.05, 2, 4, 0), tmp_path)
    before = (tmp_path / CHECKPOINT).read_bytes()

    def half_then_fail(state: dict[str, torch.Tensor], path: str) -> None:
        with open(path, "wb") as f:
            f.write(before[: len(before) // 2])  # a serializer stopped mid-write (disk full, Ctrl-C)
        raise interrupt

    monkeypatch.setattr(gradient_loop, "save_file", half_then_fail)
    with pytest.raises(type(interrupt)):
        fit_by_gradient(Regressor(), to_images, *frames, Schedule(2, 0.05, 2, 4, 1), tmp_path)
    assert (tmp_path / CHECKPOINT).read_bytes() == before
    assert set(load_file(str(tmp_path / CHECKPOINT))) >= {"student.0.weight", "student.1.running_mean"}
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT], "no temporary file left behind"


def test_empty_holdout_is_a_clear_error(frames) -> None:
    with pytest.raises(EdgeadError, match="--holdout"):
        fit_by_gradient(Regressor(), to_images, frames[0], frames[1][:0], Schedule(1, 0.1, 1, 4, 0))


@pytest.mark.parametrize("flags", [["--epochs", "3", "--fast"], ["--epochs", "0", "--fast"]])
def test_schedule_flags_are_rejected_for_one_pass_models(
    flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgead.cli import main

    (tmp_path / "good").mkdir()
    assert main(["train", "--model", "dfm", "--data", str(tmp_path / "good"), *flags]) != 0
    assert "--epochs, --fast apply to models trained by gradient descent; 'dfm' is fitted in one pass" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "-1"], "--epochs -1: train at least 1 epoch; pass --epochs 1 or more"),
        (["--epochs", "0", "--fast"], "--epochs 0: train at least 1 epoch; pass --epochs 1 or more"),
        (["--lr", "0"], "--lr 0.0: the learning rate must be a positive number, e.g. --lr 0.001"),
        (["--lr", "-0.1"], "--lr -0.1: the learning rate must be a positive number"),
        (["--lr", "nan"], "--lr nan: the learning rate must be a positive number"),
        (["--patience", "0"], "--patience 0: early stopping waits at least 1 epoch for a better held-out loss; "),
        (["--batch-size", "0"], "--batch-size must be at least 1, not 0"),
    ],
)
def test_bad_schedule_values_are_clear_errors_before_any_work(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgead.cli import main

    # the data folder does not exist: the schedule must fail first, naming the value and the fix
    argv = ["train", "--model", "stfpm", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "run"), *flags]
    try:
        code = main(argv)
    except SystemExit as exc:  # a flag's own type check: argparse's usage error
        code = exc.code
    assert code != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_schedule_defaults_apply_only_to_flags_not_given() -> None:
    def schedule(**flags) -> Schedule:
        return _schedule(TrainConfig(model="unused", data="", out="", **flags), Regressor)

    assert (schedule().epochs, schedule().lr) == (Regressor.default_epochs, Regressor.default_lr)
    assert schedule(fast=True).epochs == Regressor.fast_epochs
    assert schedule(fast=True, epochs=7).epochs == 7  # --epochs beats --fast
    assert schedule(epochs=1, lr=1e-5) == Schedule(1, 1e-5, 5, 8, 0)
    assert schedule(patience=30).patience == 30


def test_train_help_states_each_models_schedule_and_what_seed_and_batch_size_cover(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from edgead.cli import main
    from edgead.train.models import get_model_class

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for name in ("stfpm", "reverse_distillation", "stad"):
        model = get_model_class(name)
        assert f"{name}: {model.fast_epochs} epochs" in text and f"{name} {model.default_epochs}" in text
    assert "initial weights and each epoch's shuffling" in text
    assert "per optimizer step for trained models" in text
