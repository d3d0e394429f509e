"""Workflow products of the score prior: training images, the trained model, prior samples.

``training_sets`` builds the training and validation images from the galaxy splits (or
from PROBES, ``adam.probes.directory``); ``train_score_prior`` estimates sigma_max
(Technique 1, the largest pairwise distance of the training images), trains, and saves
the EMA model with its hyper-parameters; ``sample_prior`` draws unconditional samples
with one of the SDE solvers.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from galprior.models.registry import save_model

from .data import prepare_training_images
from .network import ScoreUNet
from .sde import largest_pairwise_distance
from .training import ScoreTrainingConfig, fit_score_model

__all__ = ["training_sets", "train_score_prior"]

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
    """Estimate sigma_max, train, save the EMA model to ``model_dir``; returns the history."""
    sigma_max = largest_pairwise_distance(train)
    logger.info("sigma_max = %.3f (largest pairwise distance of %d training images; paper 263.4 "
                "for PROBES 256^2), sigma_min = %g", sigma_max, len(train), sigma_min)
    model, history = fit_score_model(train, val, architecture, sigma_min, sigma_max,
                                     ScoreTrainingConfig(**training), checkpoint_dir, seed, device)
    save_model(model, Path(model_dir))
    return history
