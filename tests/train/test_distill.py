"""The shared gradient training loop: early stopping, best-state restore, checkpoint, hooks, divergence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from edgead.train.distill import CHECKPOINT, Schedule, fit_by_gradient, is_gradient_model
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


def test_trains_keeps_the_best_epoch_and_writes_it_as_a_checkpoint(frames, tmp_path: Path) -> None:
    model = Regressor()
    assert is_gradient_model(model)
    teacher_before = model.teacher.weight.clone()
    history = fit_by_gradient(model, to_images, *frames, Schedule(6, 0.05, 10, 4, 0), tmp_path)
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


def test_empty_holdout_is_a_clear_error(frames) -> None:
    with pytest.raises(EdgeadError, match="--holdout"):
        fit_by_gradient(Regressor(), to_images, frames[0], frames[1][:0], Schedule(1, 0.1, 1, 4, 0))


def test_schedule_flags_are_rejected_for_one_pass_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgead.cli import main

    (tmp_path / "good").mkdir()
    assert main(["train", "--model", "dfm", "--data", str(tmp_path / "good"), "--epochs", "3", "--fast"]) != 0
    assert "--epochs, --fast apply to models trained by gradient descent; 'dfm' is fitted in one pass" in (
        capsys.readouterr().err
    )
