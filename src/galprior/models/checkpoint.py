"""Saving and loading trained models and training checkpoints, under fixed file names.

Two kinds of file:

- **Exported model** (a rule output): a directory holding ``weights.pt`` (the
  ``state_dict``) and ``hyperparameters.json`` beside it (the constructor arguments,
  plus ``"model"``, the registry name, and ``"galprior_version"``). Written by
  :func:`save_model`, read back by :func:`load_model`.
- **Training checkpoints** (inside a training job's ``checkpoint_dir``): ``last.pt``,
  written after every finished epoch, holds everything needed to continue (weights,
  optimizer, epoch, early-stopping state, RNG states, history); ``best.pt`` holds the
  weights with the best validation ELBO so far.

Every file is written to a temporary sibling and moved into place with ``os.replace``,
so a job killed while writing leaves the previous file intact, never a truncated one.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Callable

import torch

from galprior import __version__
from galprior.models.vae import VAE

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.pt"
HYPERPARAMETERS_FILE = "hyperparameters.json"
LAST_CHECKPOINT_FILE = "last.pt"
BEST_CHECKPOINT_FILE = "best.pt"

MODEL_NAME = "vae"


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a hidden sibling of ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` through a temporary file and ``os.replace``."""
    _atomic_write(Path(path), lambda tmp: torch.save(obj, tmp))


def atomic_json_save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented JSON to ``path`` through a temporary file."""
    _atomic_write(Path(path), lambda tmp: tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n"))


# --------------------------------------------------------------------------------------
# Exported model
# --------------------------------------------------------------------------------------


def save_model(model: VAE, directory: str | os.PathLike) -> Path:
    """Write ``directory/weights.pt`` and ``directory/hyperparameters.json``.

    Returns the directory.
    """
    directory = Path(directory)
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    atomic_torch_save(state, directory / WEIGHTS_FILE)
    meta = {"model": MODEL_NAME, "galprior_version": __version__, **model.hyperparameters}
    atomic_json_save(meta, directory / HYPERPARAMETERS_FILE)
    logger.info("saved model to %s", directory)
    return directory


def read_hyperparameters(directory: str | os.PathLike) -> dict[str, Any]:
    """The VAE constructor arguments stored in ``directory/hyperparameters.json``.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: the JSON lacks a constructor argument, has an unknown one, or names
            another model.
    """
    path = Path(directory) / HYPERPARAMETERS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"model hyper-parameters not found: {path}")
    meta = json.loads(path.read_text())
    if meta.get("model", MODEL_NAME) != MODEL_NAME:
        raise ValueError(f"{path} describes model {meta['model']!r}, not {MODEL_NAME!r}")
    hyperparameters = {k: v for k, v in meta.items() if k not in ("model", "galprior_version")}
    expected = set(_vae_argument_names())
    missing = sorted(expected - set(hyperparameters))
    unknown = sorted(set(hyperparameters) - expected)
    if missing or unknown:
        raise ValueError(f"{path}: missing keys {missing}, unknown keys {unknown}")
    return hyperparameters


def _vae_argument_names() -> list[str]:
    return [name for name in inspect.signature(VAE.__init__).parameters if name != "self"]


def load_model(directory: str | os.PathLike, map_location: str | torch.device = "cpu") -> VAE:
    """Rebuild the VAE saved by :func:`save_model` in ``directory``, in eval mode."""
    hyperparameters = read_hyperparameters(directory)
    weights_path = Path(directory) / WEIGHTS_FILE
    if not weights_path.is_file():
        raise FileNotFoundError(f"model weights not found: {weights_path}")
    model = VAE(**hyperparameters)
    model.load_state_dict(torch.load(weights_path, map_location=map_location, weights_only=True))
    return model.eval()


# --------------------------------------------------------------------------------------
# Training checkpoints
# --------------------------------------------------------------------------------------


def save_checkpoint(directory: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write the training ``state`` to ``directory/last.pt`` atomically."""
    path = Path(directory) / LAST_CHECKPOINT_FILE
    atomic_torch_save(state, path)
    return path


def load_checkpoint(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The state in ``directory/last.pt``, or ``None`` when there is none yet."""
    path = Path(directory) / LAST_CHECKPOINT_FILE
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def save_best_weights(directory: str | os.PathLike, model: VAE, epoch: int, val_elbo: float) -> Path:
    """Write the current weights to ``directory/best.pt`` atomically."""
    path = Path(directory) / BEST_CHECKPOINT_FILE
    atomic_torch_save({"model": model.state_dict(), "epoch": epoch, "val_elbo": val_elbo}, path)
    return path


def load_best_weights(directory: str | os.PathLike) -> dict[str, Any]:
    """The dictionary saved by :func:`save_best_weights`."""
    path = Path(directory) / BEST_CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"best-weights checkpoint not found: {path}")
    return torch.load(path, map_location="cpu", weights_only=True)
