"""Training the VAE: one epoch, validation, early stopping, and the loop tying them.

The pieces are separate and each testable on its own:

- :func:`train_epoch`: one pass over the shuffled training images, maximising the ELBO.
- :func:`evaluate`: mean validation ELBO with a fixed noise draw, so that epochs are
  compared on the same ``eps`` and early stopping does not chase Monte-Carlo noise.
- :class:`EarlyStopping`: patience and minimum improvement on the validation ELBO.
- :func:`fit_vae`: the loop; it resumes from ``checkpoint_dir/last.pt`` when present
  (see :mod:`galprior.models.checkpoint`), writes a checkpoint after every epoch and the
  best weights whenever the validation ELBO improves, and logs one line per epoch.

Chianese et al. 2020 train with Adam, ``(beta1, beta2) = (0.5, 0.999)``, batches of
32 and early stopping on the validation ELBO; the learning rate (``1e-3``), patience and
``min_delta`` defaults are assumptions. Training is deterministic given ``seed``: all
randomness (shuffling and the reparameterisation noise) comes from one
``torch.Generator`` whose state is checkpointed, so a run killed after epoch ``k`` and
resumed ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from tqdm.auto import tqdm

from galprior.models import checkpoint
from galprior.models.vae import VAE, images_to_tensor

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "train_elbo", "val_elbo")


def train_epoch(
    model: VAE,
    optimizer: torch.optim.Optimizer,
    images: Tensor,
    batch_size: int,
    generator: torch.Generator,
    progress: bool = False,
) -> float:
    """One pass over ``images`` (``(N, 1, H, W)``) in shuffled batches.

    Shuffling and the reparameterisation noise are drawn from ``generator``.

    Returns:
        The mean training ELBO per image over the epoch (nats).
    """
    model.train()
    order = torch.randperm(len(images), generator=generator)
    total = 0.0
    batches = range(0, len(images), batch_size)
    for start in tqdm(batches, desc="batches", leave=False, disable=not progress):
        batch = images[order[start : start + batch_size]]
        per_sample = model.elbo(batch, generator)
        loss = -per_sample.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += per_sample.detach().sum().item()
    return total / len(images)


@torch.no_grad()
def evaluate(model: VAE, images: Tensor, batch_size: int, seed: int = 0) -> float:
    """Mean ELBO per image of ``images`` in eval mode, with noise drawn from ``seed``."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    total = 0.0
    for start in range(0, len(images), batch_size):
        total += model.elbo(images[start : start + batch_size], generator).sum().item()
    return total / len(images)


@dataclass
class EarlyStopping:
    """Stop when the validation ELBO has not improved for ``patience`` epochs.

    An epoch improves when its value exceeds the best so far by more than ``min_delta``
    (nats per image; higher ELBO is better).
    """

    patience: int
    min_delta: float = 0.0
    best_value: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0

    def update(self, value: float, epoch: int) -> bool:
        """Record ``value`` for ``epoch``; return whether it is the new best."""
        if value > self.best_value + self.min_delta:
            self.best_value, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_value = float(state["best_value"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])


@dataclass
class TrainingRun:
    """Everything that changes during training and goes into ``last.pt``."""

    model: VAE
    optimizer: torch.optim.Optimizer
    stopper: EarlyStopping
    generator: torch.Generator
    settings: dict[str, Any]
    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "early_stopping": self.stopper.state_dict(),
            "generator_state": self.generator.get_state(),
            "torch_rng_state": torch.get_rng_state(),
            "history": list(self.history),
            "settings": self.settings,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["settings"] != self.settings:
            raise ValueError(
                "checkpoint was written with other training settings; remove it or match them: "
                f"checkpoint {state['settings']} vs now {self.settings}"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.stopper.load_state_dict(state["early_stopping"])
        self.generator.set_state(state["generator_state"])
        torch.set_rng_state(state["torch_rng_state"])
        self.epoch = int(state["epoch"])
        self.history = [dict(record) for record in state["history"]]


def log_epoch(record: dict[str, float], improved: bool, seconds: float) -> None:
    """One log line per epoch."""
    logger.info(
        "epoch %d: train ELBO %.6g, validation ELBO %.6g%s (%.1f s)",
        record["epoch"], record["train_elbo"], record["val_elbo"], " (best)" if improved else "", seconds,
    )


def _run_epoch(run: TrainingRun, train: Tensor, val: Tensor, batch_size: int, val_seed: int, progress: bool) -> bool:
    """Train and validate one epoch, update ``run``; return whether it is the best."""
    run.epoch += 1
    train_elbo = train_epoch(run.model, run.optimizer, train, batch_size, run.generator, progress)
    val_elbo = evaluate(run.model, val, batch_size, val_seed)
    improved = run.stopper.update(val_elbo, run.epoch)
    run.history.append({"epoch": run.epoch, "train_elbo": train_elbo, "val_elbo": val_elbo})
    return improved


def fit_vae(
    model: VAE,
    train_images: np.ndarray,
    val_images: np.ndarray,
    *,
    epochs: int,
    checkpoint_dir: str | os.PathLike,
    batch_size: int = 32,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.5, 0.999),
    patience: int = 10,
    min_delta: float = 0.0,
    seed: int = 0,
    restore_best: bool = True,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``model`` in place by maximising the ELBO, with early stopping and resumption.

    Args:
        model: the VAE (freshly initialised, or whatever ``last.pt`` will overwrite).
        train_images, val_images: ``(N, H, W)`` float32 images (max-1 normalised).
        epochs: maximum total number of epochs (counting those of a resumed run).
        checkpoint_dir: where ``last.pt`` and ``best.pt`` live; if ``last.pt`` exists the
            run continues after its epoch, and must have been written with the same
            settings (everything below except ``epochs``, ``restore_best``, ``progress``).
        batch_size, lr, betas: Adam mini-batch settings.
        patience, min_delta: early stopping on the validation ELBO.
        seed: seeds shuffling and reparameterisation noise (not the weight init: seed
            ``torch`` before building the model for that).
        restore_best: load the best-validation weights into ``model`` at the end.
        progress: show tqdm bars (epochs, and batches within an epoch).

    Returns:
        The history, one ``{"epoch", "train_elbo", "val_elbo"}`` dict per epoch (mean
        ELBO per image, nats), including epochs of the run that was resumed.
    """
    train = images_to_tensor(train_images, model.image_size)
    val = images_to_tensor(val_images, model.image_size)
    settings = {
        "hyperparameters": model.hyperparameters, "batch_size": batch_size, "lr": lr,
        "betas": list(betas), "patience": patience, "min_delta": min_delta, "seed": seed,
        "n_train": len(train), "n_val": len(val),
    }
    run = TrainingRun(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=lr, betas=tuple(betas)),
        stopper=EarlyStopping(patience, min_delta),
        generator=torch.Generator().manual_seed(seed),
        settings=settings,
    )
    _resume(run, checkpoint_dir)
    bar = tqdm(total=epochs, initial=min(run.epoch, epochs), desc="VAE epochs", unit="epoch", disable=not progress)
    with bar:
        while run.epoch < epochs and not run.stopper.should_stop:
            started = time.perf_counter()
            improved = _run_epoch(run, train, val, batch_size, seed + 1, progress)
            if improved:
                checkpoint.save_best_weights(checkpoint_dir, model, run.epoch, run.history[-1]["val_elbo"])
            checkpoint.save_checkpoint(checkpoint_dir, run.state_dict())
            log_epoch(run.history[-1], improved, time.perf_counter() - started)
            bar.update(1)
            bar.set_postfix(val_elbo=f"{run.history[-1]['val_elbo']:.4g}")
    if run.stopper.should_stop:
        logger.info("early stopping after epoch %d; best epoch %d", run.epoch, run.stopper.best_epoch)
    _finish(run, checkpoint_dir, restore_best)
    return run.history


def _resume(run: TrainingRun, checkpoint_dir: str | os.PathLike) -> None:
    state = checkpoint.load_checkpoint(checkpoint_dir)
    if state is None:
        logger.info("no checkpoint in %s; training from scratch", checkpoint_dir)
        return
    run.load_state_dict(state)
    logger.info("resumed from %s after epoch %d", Path(checkpoint_dir) / checkpoint.LAST_CHECKPOINT_FILE, run.epoch)


def _finish(run: TrainingRun, checkpoint_dir: str | os.PathLike, restore_best: bool) -> None:
    best_path = Path(checkpoint_dir) / checkpoint.BEST_CHECKPOINT_FILE
    if restore_best and best_path.is_file():
        best = checkpoint.load_best_weights(checkpoint_dir)
        run.model.load_state_dict(best["model"])
        logger.info("restored best weights of epoch %d (validation ELBO %.6g)", best["epoch"], best["val_elbo"])
    run.model.eval()


def history_to_frame(history: list[dict[str, float]]) -> pd.DataFrame:
    """The training history as a table with columns ``epoch, train_elbo, val_elbo``."""
    return pd.DataFrame.from_records(history, columns=list(HISTORY_COLUMNS))
