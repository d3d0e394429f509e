"""What the workflow rules of the Nguyen 2025 system call: train each stage, evaluate.

Each function reads stores and config blocks, calls :mod:`.training` or :mod:`.evaluation`,
and returns what the rule writes (a model folder via the registry, a history table, a
:class:`~galprior.store.DeblendEvaluation`).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
import torch

from galprior.data.normalisation import mean_band_maxima, network_bands, network_inputs, normalise, to_network_bands
from galprior.metrics.deblending import cosine_similarity, ssim
from galprior.models.deblender import evaluation as ev
from galprior.models.deblender.training import (
    FLOW_HISTORY_COLUMNS, REGRESSOR_HISTORY_COLUMNS, VAE_HISTORY_COLUMNS, StageSettings, encode_means,
    fit_latent_flow, train_stage1, train_stage2, train_stage3,
)
from galprior.models.registry import load_model, save_model
from galprior.models.training import history_to_frame
from galprior.store import BlendSet, DeblendEvaluation

logger = logging.getLogger(__name__)


def stage_settings(training: dict, stage: str, seed: int) -> StageSettings:
    """:class:`StageSettings` of stage ``t1``/``t2``/``t3`` from ``nguyen.training``."""
    return StageSettings(epochs=training["epochs"][stage], batch_size=training["batch_size"],
                         learning_rate=training["learning_rate"], patience=training["patience"], seed=seed)


def _inputs(blends: BlendSet, product: str, u_band: str) -> np.ndarray:
    return network_inputs(blends, product, blends.attrs["survey"], u_band)[0]


def train_vae_stage(stage: str, train: BlendSet, val: BlendSet, nguyen: dict, seed: int,
                    checkpoint_dir: str | os.PathLike, model_dir: str | os.PathLike, device: torch.device,
                    vae1_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Training 1 (noisy isolated → clean) or 2 (noisy blend → clean, decoder of ``vae1_dir``)."""
    u_band = nguyen["des"]["u_band"]
    settings = stage_settings(nguyen["training"], stage, seed)
    y_train, y_val = _inputs(train, "clean", u_band), _inputs(val, "clean", u_band)
    beta = nguyen["vae"]["beta"]
    if stage == "t1":
        x_train, x_val = _inputs(train, "isolated", u_band), _inputs(val, "isolated", u_band)
        model, history = train_stage1(x_train, y_train, x_val, y_val, latent_dim=nguyen["vae"]["latent_dim"], beta=beta,
                                      settings=settings, checkpoint_dir=checkpoint_dir, device=device)
    elif stage == "t2":
        x_train, x_val = _inputs(train, "blend", u_band), _inputs(val, "blend", u_band)
        vae1 = load_model(vae1_dir, family="nguyen_vae")
        model, history = train_stage2(vae1, x_train, y_train, x_val, y_val, beta=beta, settings=settings,
                                      checkpoint_dir=checkpoint_dir, device=device)
    else:
        raise ValueError(f"VAE stage must be 't1' or 't2', got {stage!r}")
    save_model(model.cpu(), model_dir)
    return history_to_frame(history, VAE_HISTORY_COLUMNS)


def train_regressor_stage(train: BlendSet, val: BlendSet, vae2_dir: str | os.PathLike, nguyen: dict, seed: int,
                          checkpoint_dir: str | os.PathLike, model_dir: str | os.PathLike, device: torch.device) -> pd.DataFrame:
    """Training 3: regressor from the frozen training-2 μ of the noisy blends to the moment (e1, e2)."""
    u_band = nguyen["des"]["u_band"]
    vae2 = load_model(vae2_dir, family="nguyen_vae")
    batch = nguyen["training"]["batch_size"]
    mu_train, _ = encode_means(vae2, _inputs(train, "blend", u_band), batch, device)
    mu_val, _ = encode_means(vae2, _inputs(val, "blend", u_band), batch, device)
    model, history = train_stage3(mu_train, train.e_moments, mu_val, val.e_moments, dropout=nguyen["regressor"]["dropout"],
                                  settings=stage_settings(nguyen["training"], "t3", seed), checkpoint_dir=checkpoint_dir, device=device)
    save_model(model.cpu(), model_dir)
    return history_to_frame(history, REGRESSOR_HISTORY_COLUMNS)


def train_flow_stage(train: BlendSet, val: BlendSet, vae1_dir: str | os.PathLike, nguyen: dict, seed: int,
                     checkpoint_dir: str | os.PathLike, model_dir: str | os.PathLike, device: torch.device) -> pd.DataFrame:
    """The latent MAF on the training-1 μ of the noisy isolated galaxies."""
    u_band = nguyen["des"]["u_band"]
    vae1 = load_model(vae1_dir, family="nguyen_vae")
    flow_cfg = nguyen["flow"]
    z_train, _ = encode_means(vae1, _inputs(train, "isolated", u_band), flow_cfg["batch_size"], device)
    z_val, _ = encode_means(vae1, _inputs(val, "isolated", u_band), flow_cfg["batch_size"], device)
    settings = StageSettings(epochs=flow_cfg["epochs"], batch_size=flow_cfg["batch_size"], learning_rate=flow_cfg["learning_rate"],
                             patience=nguyen["training"]["patience"], seed=seed)
    model, history = fit_latent_flow(z_train, z_val, transforms=flow_cfg["transforms"], hidden_features=flow_cfg["hidden_features"],
                                     settings=settings, checkpoint_dir=checkpoint_dir, device=device)
    save_model(model.cpu(), model_dir)
    return history_to_frame(history, FLOW_HISTORY_COLUMNS)


def _channel_of(bands: list[str], band: str) -> int:
    lowered = [b.lower() for b in bands]
    if band.lower() not in lowered:
        raise ValueError(f"band {band!r} is not among the network channels {bands}")
    return lowered.index(band.lower())


def apply_deblender(x: np.ndarray, truth: np.ndarray | None, e_true: np.ndarray, n_sources: np.ndarray, *,
                    scale: np.ndarray, present: slice, model_dirs: dict, nguyen: dict, model_survey: str,
                    band: str, seed: int, device: torch.device, attrs: dict) -> DeblendEvaluation:
    """Every estimate of the evaluation store for normalised network inputs ``x``.

    Args:
        x: normalised inputs on the network channels, ``(N, C, H, W)``.
        truth: normalised noiseless truth on the same channels, or ``None`` (real data).
        scale: eq. 9 constants of the channels (1 for an empty one).
        present: channels the data really have (SSIM and cosine use only these).
        model_dirs: folders of ``t1``, ``t2``, ``t3`` and ``flow``.
    """
    beta = nguyen["normalisation_beta"]
    batch = nguyen["training"]["batch_size"]
    vae1 = load_model(model_dirs["t1"], family="nguyen_vae")
    vae2 = load_model(model_dirs["t2"], family="nguyen_vae")
    regressor = load_model(model_dirs["t3"], family="nguyen_regressor")
    flow = load_model(model_dirs["flow"], family="nguyen_latent_flow")
    channel = _channel_of(network_bands(model_survey), band)
    recon1, _, _ = ev.reconstruct(vae1, x, batch, device)
    recon2, mu2, lv2 = ev.reconstruct(vae2, x, batch, device)
    flow_cfg = nguyen["flow"]
    z_map = ev.flow_map_latents(flow, mu2, lv2, flow_cfg["map_steps"], flow_cfg["map_learning_rate"], device)
    z_draw = ev.flow_posterior_samples(flow, mu2, lv2, flow_cfg["n_proposals"], seed, device)

    def e_of(recon):
        return ev.reconstruction_ellipticity(recon, scale, beta, channel).astype(np.float32)

    n = len(x)
    if truth is not None:
        sims = {f"ssim_{k}": ssim(r[:, present], truth[:, present], data_range=1.0).astype(np.float32) for k, r in (("t1", recon1), ("t2", recon2))}
        coss = {f"cosine_{k}": cosine_similarity(r[:, present], truth[:, present]).astype(np.float32) for k, r in (("t1", recon1), ("t2", recon2))}
        example_truth = truth[: nguyen["n_examples"]]
    else:
        nan = np.full(n, np.nan, dtype=np.float32)
        sims = {"ssim_t1": nan, "ssim_t2": nan}
        coss = {"cosine_t1": nan, "cosine_t2": nan}
        example_truth = np.full_like(x[: nguyen["n_examples"]], np.nan)
    m = nguyen["n_examples"]
    return DeblendEvaluation(
        e_true=np.asarray(e_true, dtype=np.float32), e_recon_t1=e_of(recon1), e_recon_t2=e_of(recon2),
        e_regressor=ev.predict_ellipticity(regressor, mu2, device).astype(np.float32),
        e_flow_map=e_of(ev.decode(vae2, z_map, batch, device)), e_flow_sample=e_of(ev.decode(vae2, z_draw, batch, device)),
        **sims, **coss, n_sources=np.asarray(n_sources, dtype=np.int16),
        example_input=x[:m].astype(np.float32), example_truth=example_truth.astype(np.float32),
        example_recon_t1=recon1[:m].astype(np.float32), example_recon_t2=recon2[:m].astype(np.float32),
        attrs={**attrs, "network_bands": network_bands(model_survey), "band_scale": np.asarray(scale).tolist(),
               "normalisation_beta": beta, "model_survey": model_survey, "u_band": nguyen["des"]["u_band"],
               "ellipticity_band": band},
    )


def evaluate_simulated(val: BlendSet, model_dirs: dict, nguyen: dict, model_survey: str, seed: int, device: torch.device) -> DeblendEvaluation:
    """The deblender on a simulated validation split (LSST, or DES through an LSST or DES network)."""
    u_band = nguyen["des"]["u_band"]
    x, scale = network_inputs(val, "blend", model_survey, u_band)
    truth, _ = network_inputs(val, "clean", model_survey, u_band)
    empty_u = val.attrs["survey"] == "des" and model_survey == "lsst"
    return apply_deblender(x, truth, val.e_moments, val.n_sources, scale=scale, present=slice(1 if empty_u else 0, None),
                           model_dirs=model_dirs, nguyen=nguyen, model_survey=model_survey, band=val.attrs["ellipticity_band"],
                           seed=seed, device=device, attrs={"survey": val.attrs["survey"], "data": "simulated", "survey_bands": val.attrs["bands"]})


def evaluate_real_des(images: np.ndarray, e_im3shape: np.ndarray, model_dirs: dict, nguyen: dict, model_survey: str,
                      band: str, seed: int, device: torch.device) -> DeblendEvaluation:
    """The deblender on real DES cutouts (g r i z Y), normalised with their own eq. 9 constants.

    im3shape's e is ``(a - b)/(a + b)``; it is converted to the distortion convention of the
    moments (``2e/(1 + e²)`` in modulus) before comparison.
    """
    beta = nguyen["normalisation_beta"]
    scale = mean_band_maxima(images)
    x = normalise(images, scale, beta)
    if model_survey == "lsst":
        x, scale = to_network_bands(x, "des", nguyen["des"]["u_band"]), np.concatenate([[1.0], scale])
    mod = np.hypot(e_im3shape[:, 0], e_im3shape[:, 1])
    factor = np.where(mod > 0, 2.0 / (1.0 + mod**2), 1.0)
    e_true = e_im3shape * factor[:, None]
    return apply_deblender(x, None, e_true, np.zeros(len(x), dtype=np.int16), scale=scale, present=slice(None),
                           model_dirs=model_dirs, nguyen=nguyen, model_survey=model_survey, band=band, seed=seed,
                           device=device, attrs={"survey": "des", "data": "real", "survey_bands": ["g", "r", "i", "z", "Y"]})
