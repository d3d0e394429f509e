"""The training loop shared by every model family: epochs, early stopping, checkpoints, logs.

Separate pieces, each testable on its own:

- :class:`EarlyStopping`: patience and minimum improvement on a validation score
  (higher is better: an ELBO, or a negative loss).
- :class:`TrainingRun`: everything that changes during training (model, optimizer,
  early stopping, the random generator, epoch, history, and a moving average of the
  weights when the family keeps one) and goes into ``last.pt``.
- :func:`train`: the loop. It resumes from ``checkpoint_dir/last.pt`` when present
  (:mod:`galprior.models.checkpoint`), calls a family's ``epoch`` function (one pass of
  training and validation, returning a record), writes a checkpoint after every epoch
  and the best weights whenever the score improves, and logs one line per epoch.

A run killed after epoch ``k`` and resumed continues the same run: optimizer state,
generator and global torch RNG state, epoch and early-stopping state are restored, so
it ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch
from galprior.progress import progress_bar

from galprior.models import checkpoint
from galprior.models.ema import EMA

__all__ = ["EarlyStopping", "TrainingRun", "train", "history_to_frame"]

logger = logging.getLogger(__name__)


@dataclass
class EarlyStopping:
    """Stop when the score has not improved for ``patience`` epochs.

    An epoch improves when its score exceeds the best so far by more than ``min_delta``.
    """

    patience: int
    min_delta: float
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

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    stopper: EarlyStopping
    generator: torch.Generator
    settings: dict[str, Any]
    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    ema: EMA | None = None  # the moving average of the weights, updated by the family's epoch

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
            "ema": None if self.ema is None else self.ema.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue the run saved in ``state`` (its settings checked by :func:`_resume`)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.stopper.load_state_dict(state["early_stopping"])
        self.generator.set_state(state["generator_state"])
        torch.set_rng_state(state["torch_rng_state"])
        self.epoch = int(state["epoch"])
        self.history = [dict(record) for record in state["history"]]
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])


def _log_epoch(record: dict[str, float], improved: bool, seconds: float) -> None:
    values = ", ".join(f"{k} {v:.6g}" for k, v in record.items() if k != "epoch")
    logger.info("epoch %d: %s%s (%.1f s)", record["epoch"], values, " (best)" if improved else "", seconds)


def _resume(run: TrainingRun, checkpoint_dir: str | os.PathLike) -> None:
    state = checkpoint.load_checkpoint(checkpoint_dir)
    if state is None:
        logger.info("no checkpoint in %s; training from scratch", checkpoint_dir)
        return
    path = Path(checkpoint_dir) / checkpoint.LAST_CHECKPOINT_FILE
    checkpoint.refuse_other_settings(state["settings"], run.settings, path)
    try:
        run.load_state_dict(state)
    except (RuntimeError, KeyError) as err:  # weights of another architecture, or an older layout
        raise ValueError(checkpoint.unfit_message(path, err)) from err
    logger.info("resumed from %s after epoch %d", path, run.epoch)


def _finish(run: TrainingRun, checkpoint_dir: str | os.PathLike, restore_best: bool) -> None:
    best_path = Path(checkpoint_dir) / checkpoint.BEST_CHECKPOINT_FILE
    if restore_best and best_path.is_file():
        best = checkpoint.load_best_weights(checkpoint_dir)
        run.model.load_state_dict(best["model"])
        logger.info("restored best weights of epoch %d (score %.6g)", best["epoch"], best["score"])
    run.model.eval()


def train(run: TrainingRun, epoch: Callable[[TrainingRun], dict[str, float]], *, epochs: int,
          checkpoint_dir: str | os.PathLike, monitor: str, restore_best: bool = True,
          progress: bool = True, desc: str = "epochs") -> list[dict[str, float]]:
    """Run ``epoch(run)`` until ``epochs`` epochs in total or early stopping on ``monitor``.

    ``epoch`` trains and validates once and returns a record of scores (``monitor`` among
    them, higher is better); the loop adds ``"epoch"``. Returns the whole history,
    including epochs of a resumed run.
    """
    _resume(run, checkpoint_dir)
    bar = progress_bar(total=epochs, initial=min(run.epoch, epochs), desc=desc, unit="epoch", disable=not progress)
    with bar:
        while run.epoch < epochs and not run.stopper.should_stop:
            started = time.perf_counter()
            run.epoch += 1
            record = {"epoch": run.epoch, **epoch(run)}
            run.history.append(record)
            improved = run.stopper.update(record[monitor], run.epoch)
            if improved:
                checkpoint.save_best_weights(checkpoint_dir, run.model, run.epoch, record[monitor])
            checkpoint.save_checkpoint(checkpoint_dir, run.state_dict())
            _log_epoch(record, improved, time.perf_counter() - started)
            bar.update(1)
            bar.set_postfix({monitor: f"{record[monitor]:.4g}"})
    if run.stopper.should_stop:
        logger.info("early stopping after epoch %d; best epoch %d", run.epoch, run.stopper.best_epoch)
    _finish(run, checkpoint_dir, restore_best)
    return run.history


def history_to_frame(history: list[dict[str, float]], columns: tuple[str, ...]) -> pd.DataFrame:
    """The training history as a table with the given columns."""
    return pd.DataFrame.from_records(history, columns=list(columns))
