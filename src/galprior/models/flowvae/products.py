"""What the Lanusse et al. 2021 rules make: the trained VAE, the latent flow, the samples.

Each function reads galaxy sets (:class:`~galprior.store.GalaxySet`, or their stores
opened lazily: :class:`~galprior.store.StoreReader`, whose stamps, PSFs and noise power
spectra are then streamed a chunk at a time) and config blocks and returns or writes the
rule's outputs; the workflow scripts only call these.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from galprior.models.flowvae import likelihood as lk
from galprior.models.flowvae.flow import CONDITION_COLUMNS, LatentFlow
from galprior.models.flowvae.network import FlowVAE, count_parameters
from galprior.models.flowvae.sampling import observe, reconstruct, sample_light_profiles
from galprior.models.flowvae.training import (FLOW_HISTORY_COLUMNS, VAE_HISTORY_COLUMNS,
                                              FlowTrainingSettings, VAETrainingSettings,
                                              as_settings, encode_posteriors, fit_flow_vae,
                                              fit_latent_flow, galaxy_tensors, galaxy_view)
from galprior.models.registry import load_model, save_model
from galprior.store import GalaxySet, LatentSampleSet, MorphologySampleSet, StoreReader

logger = logging.getLogger(__name__)


def conditions_of(galaxies: GalaxySet | StoreReader) -> np.ndarray:
    """``(N, 3)`` conditions (mag, half-light radius in arcsec, redshift); error on NaN."""
    values = galaxies.properties[list(CONDITION_COLUMNS)].to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        column = CONDITION_COLUMNS[int(np.argwhere(bad)[0, 1])]
        raise ValueError(f"flowvae: {int(bad.any(1).sum())} galaxies have a non-finite "
                         f"'{column}' property; the latent flow needs {CONDITION_COLUMNS}")
    return values


def tensors_of(galaxies: GalaxySet, image_size: int):
    """The galaxy set cropped to the model's side (see :func:`galaxy_tensors`)."""
    return galaxy_tensors(galaxies.images, galaxies.psf, galaxies.noise_power,
                          conditions_of(galaxies), image_size)


def data_of(galaxies: GalaxySet | StoreReader, image_size: int):
    """What the training loops read: a store's galaxies streamed and cropped batch by batch
    (:func:`galaxy_view`), a galaxy set in memory cropped at once (:func:`tensors_of`)."""
    if isinstance(galaxies, StoreReader):
        return galaxy_view(galaxies, image_size, conditions_of(galaxies))
    return tensors_of(galaxies, image_size)


def train_flow_vae_on_galaxies(train: GalaxySet | StoreReader, val: GalaxySet | StoreReader, *,
                               image_size: int,
                               architecture: dict[str, Any], training: dict[str, Any],
                               seed: int, checkpoint_dir: str | os.PathLike,
                               model_dir: str | os.PathLike,
                               device: torch.device) -> pd.DataFrame:
    """Train the VAE (rule ``train_flow_vae``), save it to ``model_dir``; the history."""
    settings = as_settings(VAETrainingSettings, training)
    with torch.random.fork_rng(devices=[]):  # the initial weights depend on the seed alone
        torch.manual_seed(seed)
        model = FlowVAE(image_size=image_size, **architecture)
    logger.info("Flow-VAE: %d parameters, %d training / %d validation galaxies on %s",
                count_parameters(model), len(train), len(val), device)
    history = fit_flow_vae(model, data_of(train, image_size), data_of(val, image_size),
                           settings, checkpoint_dir=checkpoint_dir, device=device, seed=seed)
    save_model(model.cpu(), model_dir)
    return pd.DataFrame.from_records(history, columns=list(VAE_HISTORY_COLUMNS))


def train_latent_flow_on_galaxies(vae_dir: str | os.PathLike, train: GalaxySet | StoreReader,
                                  val: GalaxySet | StoreReader, *, architecture: dict[str, Any],
                                  training: dict[str, Any], seed: int,
                                  checkpoint_dir: str | os.PathLike,
                                  model_dir: str | os.PathLike, device: torch.device,
                                  ) -> tuple[pd.DataFrame, LatentSampleSet]:
    """Fit the conditional MAF on the encoded training set (rule ``train_latent_flow``).

    Returns the history and, per training galaxy, one draw of its posterior and one flow
    draw given its conditions (Fig. 4).
    """
    settings = as_settings(FlowTrainingSettings, training)
    vae = load_model(vae_dir, family="flowvae")
    size = vae.image_size
    train_q = encode_posteriors(vae, data_of(train, size), settings.batch_size, device)
    val_q = encode_posteriors(vae, data_of(val, size), settings.batch_size, device)
    train_y = torch.as_tensor(conditions_of(train), dtype=torch.float32)
    val_y = torch.as_tensor(conditions_of(val), dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):  # the initial weights depend on the seed alone
        torch.manual_seed(seed)
        flow = LatentFlow(latent_dim=vae.latent_dim, n_conditions=len(CONDITION_COLUMNS),
                          seed=seed, **architecture)
    history = fit_latent_flow(flow, train_q, train_y, val_q, val_y,
                              settings, checkpoint_dir=checkpoint_dir, device=device,
                              seed=seed)
    save_model(flow.cpu(), model_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        sampled = flow.eval().sample(train_y)
        encoded = train_q.draw(torch.Generator().manual_seed(seed + 2))
    latents = LatentSampleSet(encoded=encoded.numpy().astype(np.float32),
                              sampled=sampled.numpy().astype(np.float32),
                              conditions=train_y.numpy().astype(np.float32),
                              attrs={"condition_names": list(CONDITION_COLUMNS)})
    return pd.DataFrame.from_records(history, columns=list(FLOW_HISTORY_COLUMNS)), latents


def make_morphology_samples(vae_dir: str | os.PathLike, flow_dir: str | os.PathLike,
                            test: GalaxySet, *, seed: int,
                            device: torch.device) -> MorphologySampleSet:
    """The three samples of sec. 4.4 for the test galaxies (rule ``sample_flow_vae``).

    For each test galaxy: the observed stamp; its parametric model with a fresh noise
    draw; a Flow-VAE draw conditioned on its (mag, hlr, z), convolved with its PSF,
    with a noise draw from its noise power spectrum; a random draw (the conditions of
    another test galaxy) with its PSF and noise; and its VAE reconstruction.
    """
    vae = load_model(vae_dir, family="flowvae")
    flow = load_model(flow_dir, family="latent_flow")
    size = vae.image_size
    data = tensors_of(test, size)
    profiles, latents = sample_light_profiles(vae, flow, data.conditions.numpy(), seed, device)
    flowvae, _ = observe(profiles, data.psf.numpy(), data.noise_power.numpy(), seed + 1)
    shuffled = np.random.default_rng(seed).permutation(len(test))
    random_profiles, _ = sample_light_profiles(vae, flow, data.conditions.numpy()[shuffled],
                                               seed + 3, device)
    flowvae_random, _ = observe(random_profiles, data.psf.numpy(), data.noise_power.numpy(),
                                seed + 4)
    recon = reconstruct(vae, data.images, data.psf, device)
    recon_conv = lk.convolve_psf(torch.as_tensor(recon), data.psf).numpy()
    parametric_noiseless = lk.pad_or_crop(torch.as_tensor(test.parametric), size).numpy()
    noise = lk.sample_noise(data.noise_power.double(),
                            torch.Generator().manual_seed(seed + 2)).numpy()
    n_pix = size * size
    noise_sigma = np.sqrt(data.noise_power.double().mean((-1, -2)).numpy() / n_pix)
    props = test.properties[["ident", *CONDITION_COLUMNS]].reset_index(drop=True)
    return MorphologySampleSet(
        cosmos=data.images.numpy(), parametric=(parametric_noiseless + noise).astype(np.float32),
        parametric_noiseless=parametric_noiseless.astype(np.float32),
        flowvae=flowvae.astype(np.float32), flowvae_profile=profiles.astype(np.float32),
        flowvae_random=flowvae_random.astype(np.float32),
        reconstruction=recon_conv.astype(np.float32), psf=data.psf.numpy(),
        noise_sigma=noise_sigma.astype(np.float32),
        pixel_scale=np.asarray(test.pixel_scale, np.float32),
        latents=latents.astype(np.float32), properties=props,
        attrs={"source": test.attrs.get("source", "unknown"),
               "image_unit": test.attrs.get("image_unit", "image")})


def write_history(history: pd.DataFrame, path: str | os.PathLike) -> None:
    """The training history as CSV (atomic)."""
    from galprior.store import atomic_write

    atomic_write(Path(path), lambda tmp: history.to_csv(tmp, index=False))
