"""Workflow products of the score prior: training images, the trained model, prior samples.

``training_sets`` builds the training and validation images from the galaxy splits (or
from PROBES, ``adam.probes.directory``); ``train_score_prior`` estimates sigma_max
(Technique 1, the largest pairwise distance of the training images), trains, and saves
the EMA model with its hyper-parameters; ``train_score_prior_on_galaxies`` does both for
the rule from the galaxy stores opened lazily, the training images prepared a chunk at a
time into a scratch Zarr array that training streams from; ``sample_prior`` draws
unconditional samples with one of the SDE solvers.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from galprior.models.registry import save_model

from .data import prepare_training_images, write_training_images
from .network import ScoreUNet
from .sde import largest_pairwise_distance
from .training import ScoreTrainingConfig, fit_score_model

__all__ = ["training_sets", "train_score_prior", "train_score_prior_on_galaxies"]

logger = logging.getLogger(__name__)


def training_sets(train_stamps: np.ndarray | None, val_stamps: np.ndarray | None, source_size: int,
                  probes: dict[str, Any], n_validation: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation images (N, size, size), unit peak.

    From PROBES when ``probes['directory']`` is set (the last ``n_validation`` galaxies
    are held out), else from the galaxy-split stamps through ``prepare_training_images``.
    """
    if probes.get("directory"):
        from galprior.data.probes import load_probes

        images, _ = load_probes(probes["directory"], probes["band"], source_size)
        if len(images) <= n_validation:
            raise ValueError(f"adam.probes: {len(images)} galaxies, fewer than n_validation + 1 = "
                             f"{n_validation + 1}")
        return images[:-n_validation], images[-n_validation:]
    return (prepare_training_images(train_stamps, source_size),
            prepare_training_images(val_stamps[:n_validation], source_size))


def train_score_prior(train: np.ndarray, val: np.ndarray, *, sigma_min: float, architecture: dict,
                      training: dict, seed: int, checkpoint_dir: str | os.PathLike,
                      model_dir: str | os.PathLike, device: torch.device | str = "cpu") -> pd.DataFrame:
    """Estimate sigma_max, train, save the EMA model to ``model_dir``; returns the history.

    ``train`` may be a Zarr array: sigma_max and the batches are then read block by block.
    """
    sigma_max = largest_pairwise_distance(train)
    logger.info("sigma_max = %.3f (largest pairwise distance of %d training images; paper 263.4 "
                "for PROBES 256^2), sigma_min = %g", sigma_max, train.shape[0], sigma_min)
    model, history = fit_score_model(train, val, architecture, sigma_min, sigma_max,
                                     ScoreTrainingConfig(**training), checkpoint_dir, seed, device)
    save_model(model, Path(model_dir))
    return history


def train_score_prior_on_galaxies(train: Any, val: Any, *, source_size: int, probes: dict[str, Any],
                                  sigma_min: float, architecture: dict, training: dict, seed: int,
                                  checkpoint_dir: str | os.PathLike, model_dir: str | os.PathLike,
                                  device: torch.device | str = "cpu") -> pd.DataFrame:
    """The rule ``train_score_model``: from the galaxy splits (stores opened lazily,
    :meth:`galprior.store.Store.open`) or PROBES, train and save the score prior.

    The training stamps are prepared once, a chunk at a time, into a scratch Zarr array
    (a temporary folder, ``$TMPDIR``, deleted afterwards) that sigma_max and the batches
    read; the ``n_validation`` validation images are prepared in memory.
    """
    n_validation = training["n_validation"]
    options = dict(sigma_min=sigma_min, architecture=architecture, training=training, seed=seed,
                   checkpoint_dir=checkpoint_dir, model_dir=model_dir, device=device)
    if probes.get("directory"):
        train_images, val_images = training_sets(None, None, source_size, probes, n_validation)
        return train_score_prior(train_images, val_images, **options)
    val_images = prepare_training_images(val.read("images", slice(0, min(n_validation, len(val)))),
                                         source_size)
    with tempfile.TemporaryDirectory(prefix="galprior-score-") as scratch:
        train_images = write_training_images(train, source_size, Path(scratch) / "training_images.zarr")
        return train_score_prior(train_images, val_images, **options)
