"""Training checkpoints, the same for every model family, written atomically.

Inside a training job's ``checkpoint_dir``: ``last.pt``, written after every finished
epoch, holds everything needed to continue (weights, optimizer, epoch, early-stopping
state, RNG states, history, settings); ``best.pt`` holds the weights with the best
validation score so far. A job killed while writing leaves the previous file intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from galprior.models.registry import atomic_torch_save

__all__ = ["LAST_CHECKPOINT_FILE", "BEST_CHECKPOINT_FILE", "save_checkpoint", "load_checkpoint",
           "save_best_weights", "load_best_weights", "refuse_other_settings", "unfit_message"]

LAST_CHECKPOINT_FILE = "last.pt"
BEST_CHECKPOINT_FILE = "best.pt"


def _load(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable checkpoint ({err}); delete it to train "
                         "from scratch") from err


def refuse_other_settings(saved: dict[str, Any], ours: dict[str, Any], path: Path) -> None:
    """Raise when the checkpoint at ``path`` was written with other settings than ``ours``
    (a resumed run would continue another run), naming the file and each setting that differs."""
    differ = {k: (saved.get(k), ours.get(k)) for k in sorted(set(saved) | set(ours))
              if saved.get(k) != ours.get(k)}
    if differ:
        raise ValueError(f"{path} was written with other training settings; delete it or match them "
                         "(setting: checkpoint's, this run's): "
                         + ", ".join(f"{k}: {old!r}, {new!r}" for k, (old, new) in differ.items()))


def unfit_message(path: Path, err: Exception) -> str:
    """The error of a readable checkpoint that this version's model or loop cannot resume."""
    return (f"{path} does not fit this run (written by another version of galprior?): {err}; "
            f"delete {path.parent} to train from scratch")


def save_checkpoint(directory: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write the training ``state`` to ``directory/last.pt`` atomically."""
    return atomic_torch_save(state, Path(directory) / LAST_CHECKPOINT_FILE)


def load_checkpoint(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The state in ``directory/last.pt``, or ``None`` when there is none yet."""
    path = Path(directory) / LAST_CHECKPOINT_FILE
    return _load(path) if path.is_file() else None


def save_best_weights(directory: str | os.PathLike, model: nn.Module, epoch: int, score: float) -> Path:
    """Write the current weights to ``directory/best.pt`` atomically."""
    return atomic_torch_save({"model": model.state_dict(), "epoch": epoch, "score": score},
                             Path(directory) / BEST_CHECKPOINT_FILE)


def load_best_weights(directory: str | os.PathLike) -> dict[str, Any]:
    """The dictionary saved by :func:`save_best_weights`."""
    path = Path(directory) / BEST_CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"best-weights checkpoint not found: {path}")
    return _load(path)
