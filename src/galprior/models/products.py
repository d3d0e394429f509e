"""Workflow products of the VAE: training from galaxy stores, reconstructions of tests."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import pandas as pd
import torch

from galprior.data.store import GalaxySet, ReconstructionSet
from galprior.models.checkpoint import save_model
from galprior.models.reconstruction import reconstruct, rotation_reconstructions
from galprior.models.training import fit_vae, history_to_frame
from galprior.models.vae import VAE

logger = logging.getLogger(__name__)


def train_vae_on_galaxies(
    train: GalaxySet, val: GalaxySet, *, architecture: dict[str, Any],
    training: dict[str, Any], seed: int, checkpoint_dir: str | os.PathLike,
    model_dir: str | os.PathLike,
) -> pd.DataFrame:
    """Build and train a VAE, save it to ``model_dir``; return the loss history."""
    torch.manual_seed(seed)  # weight initialisation
    model = VAE(**architecture)
    options = dict(training)
    options["betas"] = tuple(options["betas"])
    history = fit_vae(model, train.images, val.images, checkpoint_dir=checkpoint_dir,
                      seed=seed, **options)
    save_model(model, model_dir)
    return history_to_frame(history)


def reconstruction_set(model: VAE, test: GalaxySet, n_galaxies: int,
                       angles: tuple[int, ...] = (0, 90, 180, 270)) -> ReconstructionSet:
    """Reconstructions and rotation-test reconstructions of the first test galaxies."""
    index = np.arange(min(n_galaxies, len(test)))
    images = test.images[index]
    return ReconstructionSet(
        images=images,
        reconstructions=reconstruct(model, images).astype(np.float32),
        rotated=rotation_reconstructions(model, images, angles).astype(np.float32),
        galaxy_index=index.astype(np.int64),
        attrs={"angles": list(angles), "galaxy_source": test.attrs["source"]},
    )
