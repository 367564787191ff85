"""The one training loop for models learnt by gradient descent (STFPM, Reverse Distillation, STAD).

Such a model provides ``make_optimizer(lr)``, ``loss(images)`` and optionally ``prepare(batches)``
(statistics needed before training) and ``finalize(batches)`` (statistics of the trained model);
see ``edgead.train.models``. The loop trains for epochs on shuffled good images, measures the loss
on the held-out good images after each epoch, keeps the best epoch (also written atomically to
``RUN_DIR/checkpoint.safetensors``, so a crash or Ctrl-C leaves the best weights so far), stops
early when the held-out loss has not improved for ``patience`` epochs, and restores the best state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from tqdm.auto import tqdm

from edgead_runtime.errors import EdgeadError
from edgead_runtime.files import atomic_write

CHECKPOINT = "checkpoint.safetensors"
# Batches are frames -> normalized images; the caller owns the input stage (the graph's FrameInput).
ToImages = Callable[[torch.Tensor], torch.Tensor]


def is_gradient_model(model: nn.Module | type[nn.Module]) -> bool:
    """A model instance or class that is trained by this loop rather than fitted in one pass."""
    return hasattr(model, "loss") and hasattr(model, "make_optimizer")


@dataclass(frozen=True)
class Schedule:
    """Epochs, learning rate and early stopping; a bad value fails here, naming its flag and the fix."""

    epochs: int
    lr: float
    patience: int
    batch_size: int
    seed: int

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise EdgeadError(f"--epochs {self.epochs}: train at least 1 epoch; pass --epochs 1 or more")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise EdgeadError(f"--lr {self.lr}: the learning rate must be a positive number, e.g. --lr 0.001")
        if self.patience < 1:
            raise EdgeadError(
                f"--patience {self.patience}: early stopping waits at least 1 epoch for a better held-out loss; "
                f"pass --patience 1 or more (--patience {self.epochs} never stops early)"
            )


@dataclass
class History:
    """Per-epoch losses and the epoch whose weights were kept."""

    train_loss: list[float]
    val_loss: list[float]
    best_epoch: int
    seconds: float
    stopped_early: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            "best_epoch": self.best_epoch,
            "epochs_run": len(self.train_loss),
            "seconds": self.seconds,
            "stopped_early": self.stopped_early,
        }


def fit_by_gradient(
    model: nn.Module,
    to_images: ToImages,
    fit_frames: np.ndarray,
    val_frames: np.ndarray,
    schedule: Schedule,
    checkpoint_dir: Path | None = None,
) -> History:
    """Train ``model`` on ``fit_frames``, early-stopped on ``val_frames``; leave it in eval mode with the best state."""
    if len(fit_frames) == 0:
        raise EdgeadError("no training images left after the holdout split; add images or lower --holdout")
    if len(val_frames) == 0:
        raise EdgeadError("early stopping needs held-out good images; raise --holdout above 0")
    generator = torch.Generator().manual_seed(schedule.seed)

    def images(
        frames: np.ndarray, desc: str | None = None, order: np.ndarray | None = None, leave: bool = True
    ) -> Iterator[torch.Tensor]:
        return (to_images(b) for b in batches(frames, schedule.batch_size, desc, order, leave))

    model.eval()
    if hasattr(model, "prepare"):
        with torch.no_grad():
            model.prepare(images(fit_frames, "preparing"))
    optimizer = model.make_optimizer(schedule.lr)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    if not trainable:
        raise RuntimeError(f"{type(model).__name__} has no trainable parameters")

    history = History([], [], -1, 0.0, False)
    best_state: dict[str, torch.Tensor] = {}
    best_val = math.inf
    steps_per_epoch = math.ceil(len(fit_frames) / schedule.batch_size)
    start = time.perf_counter()
    bar = tqdm(total=schedule.epochs * steps_per_epoch, desc="training", unit="step")
    try:
        for epoch in range(schedule.epochs):
            model.train()
            order = torch.randperm(len(fit_frames), generator=generator).numpy()
            total, count = 0.0, 0
            for batch in images(fit_frames, order=order):
                optimizer.zero_grad(set_to_none=True)
                loss = model.loss(batch)
                _check_finite("loss", loss.item(), epoch, schedule)
                loss.backward()
                optimizer.step()
                total, count = total + loss.item() * len(batch), count + len(batch)
                bar.update(1)
                bar.set_postfix(epoch=f"{epoch + 1}/{schedule.epochs}", loss=f"{loss.item():.4g}")
            history.train_loss.append(total / count)
            history.val_loss.append(_mean_loss(model, images(val_frames, "held-out loss", leave=False)))
            # a NaN never beats the best loss: without this check the untrained weights would be kept silently
            _check_finite("held-out loss", history.val_loss[-1], epoch, schedule)
            if history.val_loss[-1] < best_val:
                best_val, history.best_epoch = history.val_loss[-1], epoch
                best_state = _trainable_state(model, trainable)
                if checkpoint_dir is not None:
                    _save_checkpoint(Path(checkpoint_dir) / CHECKPOINT, best_state)
            bar.set_postfix(
                epoch=f"{epoch + 1}/{schedule.epochs}",
                loss=f"{history.train_loss[-1]:.4g}",
                val=f"{history.val_loss[-1]:.4g}",
                best=f"{best_val:.4g}@{history.best_epoch + 1}",
            )
            if epoch - history.best_epoch >= schedule.patience:
                history.stopped_early = True
                break
    finally:
        bar.close()
    model.load_state_dict(best_state, strict=False)
    model.eval()
    if hasattr(model, "finalize"):
        with torch.no_grad():
            model.finalize(images(fit_frames, "finalizing"))
    history.seconds = time.perf_counter() - start
    stop = f"stopped early after {len(history.train_loss)} epochs" if history.stopped_early else "all epochs run"
    print(
        f"trained {len(history.train_loss)} epochs in {history.seconds:.1f} s ({stop}); "
        f"kept epoch {history.best_epoch + 1} (held-out loss {best_val:.4g})"
    )
    return history


def batches(
    frames: np.ndarray, batch_size: int, desc: str | None = None, order: np.ndarray | None = None, leave: bool = True
) -> Iterator[torch.Tensor]:
    """uint8 frames [N, H, W, 3] as torch batches (in ``order`` when given), with a progress bar when ``desc`` is."""
    order = np.arange(len(frames)) if order is None else order
    starts = range(0, len(order), batch_size)
    if desc:
        starts = tqdm(starts, desc=desc, unit="batch", leave=leave)
    for start in starts:
        yield torch.from_numpy(frames[order[start : start + batch_size]])


def _check_finite(what: str, value: float, epoch: int, schedule: Schedule) -> None:
    if not math.isfinite(value):
        raise EdgeadError(f"training diverged at epoch {epoch + 1} ({what} {value}); lower --lr (now {schedule.lr})")


def _save_checkpoint(path: Path, state: dict[str, torch.Tensor]) -> None:
    atomic_write(path, lambda tmp: save_file(state, tmp))


@torch.no_grad()
def _mean_loss(model: nn.Module, images: Iterator[torch.Tensor]) -> float:
    model.eval()
    total, count = 0.0, 0
    for batch in images:
        total += model.loss(batch).item() * len(batch)
        count += len(batch)
    return total / count


def _trainable_state(model: nn.Module, trainable: set[str]) -> dict[str, torch.Tensor]:
    """Trainable parameters and the buffers of the modules that own them (e.g. batch-norm running stats)."""
    owners = {name.rpartition(".")[0] for name in trainable}
    state = {}
    for name, tensor in model.state_dict().items():
        if name in trainable or name.rpartition(".")[0] in owners:
            state[name] = tensor.detach().clone().contiguous()
    return state
