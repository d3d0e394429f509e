"""What the workflow rules of the Nguyen 2025 system call: train each stage, evaluate.

Each function reads stores and config blocks, calls :mod:`.training` or :mod:`.evaluation`,
and returns what the rule writes (a model folder via the registry, a history table, a
:class:`~galprior.store.DeblendEvaluation`). The blend stores are read as
:func:`blend_view`: opened lazily (:meth:`~galprior.store.Store.open`), only the images a
stage uses, normalised (eq. 9) a batch at a time in float32, so that training and
evaluation hold a few store chunks, not a split (180,000 blends: ~29 GB raw).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
import torch

from galprior.data.normalisation import (
    channel_scale, mean_band_maxima, network_bands, network_images, normalise, to_network_bands,
)
from galprior.data.moments import moment_ellipticity
from galprior.data.normalisation import denormalise
from galprior.metrics.deblending import (
    aperture_fluxes, band_fluxes, cosine_similarity, hsm_ellipticity, ssim, subtract_background,
)
from galprior.models.batches import ArraySource, EntryView
from galprior.models.deblender import evaluation as ev
from galprior.models.deblender.training import (
    FLOW_HISTORY_COLUMNS, REGRESSOR_HISTORY_COLUMNS, VAE_HISTORY_COLUMNS, StageSettings, encode_means,
    fit_latent_flow, train_stage1, train_stage2, train_stage3,
)
from galprior.models.registry import load_model, save_model
from galprior.models.training import history_to_frame
from galprior.store import BlendSet, DeblendEvaluation, StoreReader

# Galaxies per group of the flow-prior MAP and resampling (memory of the flow's activations).
LATENT_GROUP = 4096

logger = logging.getLogger(__name__)


def stage_settings(training: dict, stage: str, seed: int) -> StageSettings:
    """:class:`StageSettings` of stage ``t1``/``t2``/``t3`` from ``nguyen.training``."""
    return StageSettings(epochs=training["epochs"][stage], batch_size=training["batch_size"],
                         learning_rate=training["learning_rate"], patience=training["patience"], seed=seed)


def blend_view(blends: BlendSet | StoreReader, inputs: str, target: str | None = None,
               model_survey: str | None = None, u_band: str = "zeros", aperture_radius: float | None = None) -> EntryView:
    """Batches ``x`` (the ``inputs`` images) and ``y`` (the ``target`` images, if any) of a
    blend set, normalised per batch (eq. 9, float32, the store's constants) on the
    channels of a ``model_survey`` network (default: the blends' own survey); with a
    target also ``flux``, its band fluxes in electrons before eq. 9 (for a colour head;
    0 for an empty u channel); with ``aperture_radius`` also ``aperture``
    (:func:`input_apertures`).

    ``blends``: a store opened lazily (only the two arrays are read, chunk by chunk) or a
    :class:`~galprior.store.BlendSet` in memory.
    """
    attrs = dict(blends.attrs)
    model_survey = model_survey or attrs["survey"]
    channel_scale(attrs, model_survey, u_band)  # refuses a survey the network cannot read
    names = (inputs,) if target is None else (inputs, target)
    source = blends if isinstance(blends, StoreReader) else ArraySource({n: getattr(blends, n) for n in names})

    scale = channel_scale(attrs, model_survey, u_band)

    def to_network(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {"index": batch["index"], "x": network_images(batch[inputs], attrs, model_survey, u_band)}
        if aperture_radius is not None:
            out["aperture"] = input_apertures(out["x"], scale, attrs["normalisation_beta"], aperture_radius)
        if target is not None:
            out["y"] = network_images(batch[target], attrs, model_survey, u_band)
            flux = band_fluxes(batch[target]).astype(np.float32)
            out["flux"] = flux if attrs["survey"] == model_survey else to_network_bands(flux[..., None, None], "des", u_band)[..., 0, 0]
        return out

    return EntryView(source, names, to_network)


def input_apertures(x: np.ndarray, scale: np.ndarray, beta: float, radius: float) -> np.ndarray:
    """Central-aperture band fluxes (electrons, ``(N, B)``) of normalised network inputs
    ``x``, through the inverse of eq. 9: what the colour head starts from (only the
    aperture's bounding box is denormalised)."""
    h, w = x.shape[-2:]
    r = int(np.ceil(radius))
    rows = slice(max((h - 1) // 2 - r, 0), min((h - 1) // 2 + r + 1 + (h + 1) % 2, h))
    cols = slice(max((w - 1) // 2 - r, 0), min((w - 1) // 2 + r + 1 + (w + 1) % 2, w))
    box = x[..., rows, cols]
    # the box keeps the centre ((H-1)/2, (W-1)/2) at the centre of the crop
    return aperture_fluxes(denormalise(box, scale, beta), radius).astype(np.float32)


def _array(blends: BlendSet | StoreReader, name: str) -> np.ndarray:
    """One per-blend array (labels, counts), read whole: ``N`` numbers."""
    return blends.read(name) if isinstance(blends, StoreReader) else getattr(blends, name)


def train_vae_stage(stage: str, train: BlendSet | StoreReader, val: BlendSet | StoreReader, nguyen: dict, seed: int,
                    checkpoint_dir: str | os.PathLike, model_dir: str | os.PathLike, device: torch.device,
                    vae1_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Training 1 (noisy isolated → clean) or 2 (noisy blend → clean, decoder of ``vae1_dir``)."""
    u_band = nguyen["des"]["u_band"]
    settings = stage_settings(nguyen["training"], stage, seed)
    beta = nguyen["vae"]["beta"]
    colour = nguyen["vae"]["colour_head"]
    radius = colour["aperture_radius"] if colour["weight"] > 0 else None
    if stage == "t1":
        model, history = train_stage1(blend_view(train, "isolated", "clean", u_band=u_band, aperture_radius=radius),
                                      blend_view(val, "isolated", "clean", u_band=u_band, aperture_radius=radius),
                                      latent_dim=nguyen["vae"]["latent_dim"], beta=beta,
                                      settings=settings, checkpoint_dir=checkpoint_dir, device=device,
                                      colour_weight=colour["weight"], colour_hidden=colour["hidden"])
    elif stage == "t2":
        vae1 = load_model(vae1_dir, family="nguyen_vae")
        model, history = train_stage2(vae1, blend_view(train, "blend", "clean", u_band=u_band, aperture_radius=radius),
                                      blend_view(val, "blend", "clean", u_band=u_band, aperture_radius=radius), beta=beta, settings=settings,
                                      checkpoint_dir=checkpoint_dir, device=device, colour_weight=colour["weight"])
    else:
        raise ValueError(f"VAE stage must be 't1' or 't2', got {stage!r}")
    save_model(model.cpu(), model_dir)
    return history_to_frame(history, VAE_HISTORY_COLUMNS)


def train_regressor_stage(train: BlendSet | StoreReader, val: BlendSet | StoreReader, vae2_dir: str | os.PathLike,
                          nguyen: dict, seed: int, checkpoint_dir: str | os.PathLike, model_dir: str | os.PathLike,
                          device: torch.device) -> pd.DataFrame:
    """Training 3: regressor from the frozen training-2 μ of the noisy blends to the moment (e1, e2)."""
    u_band = nguyen["des"]["u_band"]
    vae2 = load_model(vae2_dir, family="nguyen_vae")
    batch = nguyen["training"]["batch_size"]
    mu_train, _ = encode_means(vae2, blend_view(train, "blend", u_band=u_band), batch, device)
    mu_val, _ = encode_means(vae2, blend_view(val, "blend", u_band=u_band), batch, device)
    model, history = train_stage3(mu_train, _array(train, "e_moments"), mu_val, _array(val, "e_moments"),
                                  dropout=nguyen["regressor"]["dropout"],
                                  settings=stage_settings(nguyen["training"], "t3", seed), checkpoint_dir=checkpoint_dir, device=device)
    save_model(model.cpu(), model_dir)
    return history_to_frame(history, REGRESSOR_HISTORY_COLUMNS)


def train_flow_stage(train: BlendSet | StoreReader, val: BlendSet | StoreReader, vae1_dir: str | os.PathLike,
                     nguyen: dict, seed: int, checkpoint_dir: str | os.PathLike, model_dir: str | os.PathLike,
                     device: torch.device) -> pd.DataFrame:
    """The latent MAF on the training-1 μ of the noisy isolated galaxies."""
    u_band = nguyen["des"]["u_band"]
    vae1 = load_model(vae1_dir, family="nguyen_vae")
    flow_cfg = nguyen["flow"]
    z_train, _ = encode_means(vae1, blend_view(train, "isolated", u_band=u_band), flow_cfg["batch_size"], device)
    z_val, _ = encode_means(vae1, blend_view(val, "isolated", u_band=u_band), flow_cfg["batch_size"], device)
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


def apply_deblender(view: EntryView, e_true: np.ndarray, n_sources: np.ndarray, *, has_truth: bool,
                    scale: np.ndarray, present: slice, model_dirs: dict, nguyen: dict, model_survey: str,
                    band: str, seed: int, device: torch.device, attrs: dict) -> DeblendEvaluation:
    """Every estimate of the evaluation store for the batches of ``view``.

    The images are streamed in order, ``nguyen.training.batch_size`` at a time: per
    batch the reconstructions of trainings 1 and 2, their ellipticities, SSIM and cosine
    similarity, their band fluxes (denormalised, background subtracted:
    :func:`physical_images`) and the truth's, the training-2 ellipticity also with the
    background subtracted and by HSM (and the truth's by HSM), and the encoder's μ and
    log σ² (kept: ``N x latent_dim``); the first
    ``n_examples`` images are kept for the figures. The flow-prior MAP and draws work on
    the latents in groups of ``LATENT_GROUP`` galaxies, decoded and measured per batch.

    Args:
        view: batches ``x`` (normalised inputs on the network channels, ``(B, C, H, W)``)
            and, when ``has_truth``, ``y`` (the normalised noiseless truth on the same
            channels; real data have none).
        scale: eq. 9 constants of the channels (1 for an empty one).
        present: channels the data really have (SSIM and cosine use only these).
        model_dirs: folders of ``t1``, ``t2``, ``t3`` and ``flow``.
    """
    beta = nguyen["normalisation_beta"]
    batch_size = nguyen["training"]["batch_size"]
    m = nguyen["n_examples"]
    vae1 = load_model(model_dirs["t1"], family="nguyen_vae")
    vae2 = load_model(model_dirs["t2"], family="nguyen_vae")
    regressor = load_model(model_dirs["t3"], family="nguyen_regressor")
    flow = load_model(model_dirs["flow"], family="nguyen_latent_flow")
    channel = _channel_of(network_bands(model_survey), band)

    def e_of(recon):
        return ev.reconstruction_ellipticity(recon, scale, beta, channel).astype(np.float32)

    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("e_recon_t1", "e_recon_t2", "ssim_t1", "ssim_t2",
                                                            "cosine_t1", "cosine_t2", "mu2", "lv2", "flux_true",
                                                            "flux_recon_t1", "flux_recon_t2", "e_true_hsm",
                                                            "e_recon_t2_bgsub", "e_recon_t2_hsm")}
    examples: dict[str, list[np.ndarray]] = {k: [] for k in ("input", "truth", "recon_t1", "recon_t2")}
    kept = 0
    for batch in view.stream(batch_size):
        x = batch["x"].numpy()
        recon1, mu1, _ = ev.reconstruct(vae1, x, batch_size, device)
        recon2, mu2, lv2 = ev.reconstruct(vae2, x, batch_size, device)
        columns["e_recon_t1"].append(e_of(recon1))
        columns["e_recon_t2"].append(e_of(recon2))
        columns["mu2"].append(mu2)
        columns["lv2"].append(lv2)
        aperture = input_apertures(x, scale, beta, nguyen["vae"]["colour_head"]["aperture_radius"])
        physical1 = physical_images(recon1, scale, beta, ev.band_fractions(vae1, mu1, aperture, device))
        physical2 = physical_images(recon2, scale, beta, ev.band_fractions(vae2, mu2, aperture, device))
        columns["flux_recon_t1"].append(band_fluxes(physical1).astype(np.float32))
        columns["flux_recon_t2"].append(band_fluxes(physical2).astype(np.float32))
        columns["e_recon_t2_bgsub"].append(moment_ellipticity(physical2[:, channel]).astype(np.float32))
        columns["e_recon_t2_hsm"].append(hsm_ellipticity(physical2[:, channel]).astype(np.float32))
        if has_truth:
            truth = batch["y"].numpy()
            truth_physical = denormalise(truth, scale, beta)
            columns["flux_true"].append(band_fluxes(truth_physical).astype(np.float32))
            columns["e_true_hsm"].append(hsm_ellipticity(truth_physical[:, channel]).astype(np.float32))
            for key, recon in (("t1", recon1), ("t2", recon2)):
                columns[f"ssim_{key}"].append(ssim(recon[:, present], truth[:, present], data_range=1.0).astype(np.float32))
                columns[f"cosine_{key}"].append(cosine_similarity(recon[:, present], truth[:, present]).astype(np.float32))
        if kept < m or not examples["input"]:  # (the first batch always: shapes for m = 0)
            take = slice(0, max(m - kept, 0))
            examples["input"].append(x[take])
            examples["truth"].append(batch["y"].numpy()[take] if has_truth else np.full_like(x[take], np.nan))
            examples["recon_t1"].append(recon1[take])
            examples["recon_t2"].append(recon2[take])
            kept += len(x[take])
    n = len(e_true)
    mu2, lv2 = np.concatenate(columns.pop("mu2")), np.concatenate(columns.pop("lv2"))
    if len(mu2) != n:
        raise ValueError(f"the deblender read {len(mu2)} images but was given {n} labels")
    flow_cfg = nguyen["flow"]
    generator = torch.Generator().manual_seed(seed)
    e_map, e_draw = [], []
    for start in range(0, n, LATENT_GROUP):
        group = slice(start, start + LATENT_GROUP)
        z_map = ev.flow_map_latents(flow, mu2[group], lv2[group], flow_cfg["map_steps"], flow_cfg["map_learning_rate"], device)
        z_draw = ev.flow_posterior_samples(flow, mu2[group], lv2[group], flow_cfg["n_proposals"], seed, device,
                                           generator=generator)
        e_map.append(_decoded_ellipticity(vae2, z_map, batch_size, device, e_of))
        e_draw.append(_decoded_ellipticity(vae2, z_draw, batch_size, device, e_of))
    if not has_truth:
        nan = np.full(n, np.nan, dtype=np.float32)
        columns.update({key: [nan] for key in ("ssim_t1", "ssim_t2", "cosine_t1", "cosine_t2")})
        columns["flux_true"] = [np.full((n, len(scale)), np.nan, dtype=np.float32)]
        columns["e_true_hsm"] = [np.full((n, 2), np.nan, dtype=np.float32)]
    return DeblendEvaluation(
        e_true=np.asarray(e_true, dtype=np.float32),
        **{key: np.concatenate(values) for key, values in columns.items()},
        e_regressor=ev.predict_ellipticity(regressor, mu2, device).astype(np.float32),
        e_flow_map=np.concatenate(e_map), e_flow_sample=np.concatenate(e_draw),
        n_sources=np.asarray(n_sources, dtype=np.int16),
        **{f"example_{key}": np.concatenate(values).astype(np.float32) for key, values in examples.items()},
        attrs={**attrs, "network_bands": network_bands(model_survey), "band_scale": np.asarray(scale).tolist(),
               "normalisation_beta": beta, "model_survey": model_survey, "u_band": nguyen["des"]["u_band"],
               "ellipticity_band": band},
    )


def physical_images(recon: np.ndarray, scale: np.ndarray, beta: float, fractions: np.ndarray | None = None) -> np.ndarray:
    """Reconstructions (eq. 9 units, ``(N, B, H, W)``) in electrons: the inverse of eq. 9
    (:func:`~galprior.data.normalisation.denormalise`) less each band's pedestal
    (:func:`~galprior.metrics.deblending.subtract_background`: the sigmoid never outputs 0).

    With ``fractions`` (``(N, B)``, a colour head's ``F_b / Σ F``: beyond the report) each
    band is rescaled so that the band fluxes are ``Σ F × fractions``: the decoder gives the
    shapes and the total flux, the head the colour. A band with no positive flux is left
    as it is. Shapes (moments, HSM) do not change.
    """
    physical = subtract_background(denormalise(recon, scale, beta))
    if fractions is None:
        return physical
    flux = band_fluxes(physical)
    target = flux.sum(axis=-1, keepdims=True) * np.asarray(fractions, dtype=np.float64)
    factor = np.where(flux > 0, target / np.where(flux > 0, flux, 1.0), 1.0)
    return physical * factor[..., None, None]


def _decoded_ellipticity(model, z: np.ndarray, batch_size: int, device: torch.device, e_of) -> np.ndarray:
    """Ellipticities of the decoded latents ``z``, a batch at a time (no set of images kept)."""
    return np.concatenate([e_of(ev.decode(model, z[s : s + batch_size], batch_size, device))
                           for s in range(0, len(z), batch_size)] or [np.zeros((0, 2), np.float32)])


def evaluate_simulated(val: BlendSet | StoreReader, model_dirs: dict, nguyen: dict, model_survey: str, seed: int,
                       device: torch.device) -> DeblendEvaluation:
    """The deblender on a simulated validation split (LSST, or DES through an LSST or DES network)."""
    u_band = nguyen["des"]["u_band"]
    view = blend_view(val, "blend", "clean", model_survey, u_band)
    scale = channel_scale(val.attrs, model_survey, u_band)
    empty_u = val.attrs["survey"] == "des" and model_survey == "lsst"
    return apply_deblender(view, _array(val, "e_moments"), _array(val, "n_sources"), has_truth=True, scale=scale,
                           present=slice(1 if empty_u else 0, None), model_dirs=model_dirs, nguyen=nguyen,
                           model_survey=model_survey, band=val.attrs["ellipticity_band"], seed=seed, device=device,
                           attrs={"survey": val.attrs["survey"], "data": "simulated", "survey_bands": val.attrs["bands"]})


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
    return apply_deblender(EntryView.of_arrays(x=x), e_true, np.zeros(len(x), dtype=np.int16), has_truth=False,
                           scale=scale, present=slice(None), model_dirs=model_dirs, nguyen=nguyen,
                           model_survey=model_survey, band=band, seed=seed, device=device,
                           attrs={"survey": "des", "data": "real", "survey_bands": ["g", "r", "i", "z", "Y"]})
