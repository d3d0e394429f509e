"""Workflow products of the score prior: the trained model.

``train_score_prior`` sets sigma_max (the paper's value when ``adam.score_model.sigma_max``
is given, else Technique 1 of Song & Ermon 2020: the largest pairwise distance of the
training images, which the paper's 263.4 is for PROBES 256^2), trains, and saves the EMA
model with its hyper-parameters. The training images are the train and val splits of the
score galaxies (:mod:`galprior.models.score.data`, rule prepare_score_galaxies).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from galprior.models.registry import save_model

from .sde import largest_pairwise_distance
from .training import ScoreTrainingConfig, fit_score_model

__all__ = ["choose_sigma_max", "train_score_prior"]

logger = logging.getLogger(__name__)


def choose_sigma_max(train: np.ndarray, sigma_max: float | None) -> float:
    """``sigma_max`` when given (``adam.score_model.sigma_max``), else Technique 1 on ``train``;
    the estimate is logged in both cases."""
    estimate = largest_pairwise_distance(train)
    logger.info("largest pairwise distance of %d training images of %dx%d: %.2f (Technique 1; paper 263.4 "
                "for PROBES 256^2)", train.shape[0], *train.shape[1:], estimate)
    if sigma_max is None:
        return estimate
    logger.info("sigma_max = %g from adam.score_model.sigma_max (the estimate is %.2f)", sigma_max, estimate)
    return float(sigma_max)


def pixel_rms(train: np.ndarray, n_images: int = 1024) -> float:
    """RMS pixel value of (up to the first ``n_images``) training images: EDM's sigma_data."""
    images = np.asarray(train[:n_images], np.float64)
    return float(np.sqrt(np.mean(images**2)))


def network_architecture(architecture: dict, train: np.ndarray) -> dict:
    """The config's architecture block as :class:`ScoreUNet` arguments: ``preconditioning``
    ``edm`` becomes ``sigma_data`` = :func:`pixel_rms` of the training images, ``none`` none."""
    arguments = {k: v for k, v in architecture.items() if k != "preconditioning"}
    if architecture["preconditioning"] == "edm":
        arguments["sigma_data"] = pixel_rms(train)
        logger.info("EDM preconditioning: sigma_data = %.4g (pixel RMS of the training images)", arguments["sigma_data"])
    return arguments


def train_score_prior(train: np.ndarray, val: np.ndarray, *, sigma_min: float, sigma_max: float | None,
                      architecture: dict, training: dict, normalisation: str, seed: int,
                      checkpoint_dir: str | os.PathLike, model_dir: str | os.PathLike,
                      device: torch.device | str = "cpu") -> pd.DataFrame:
    """Set sigma_max, train, save the EMA model to ``model_dir``; returns the history."""
    sigma_max = choose_sigma_max(train, sigma_max)
    logger.info("VE SDE: sigma_min = %g, sigma_max = %g; images in %s units", sigma_min, sigma_max, normalisation)
    model, history = fit_score_model(train, val, network_architecture(architecture, train), sigma_min, sigma_max,
                                     ScoreTrainingConfig(**training), checkpoint_dir, seed, device,
                                     normalisation=normalisation)
    save_model(model, Path(model_dir))
    return history

