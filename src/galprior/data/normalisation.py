"""The eq. 9 normalisation of Nguyen 2025 and the network channels (numpy only, no BTK).

``x_b = tanh(asinh(β x_raw,b / ⟨max⟩_b))`` (Arcelin et al. 2020), ``β = 2.5``, with
``⟨max⟩_b`` the per-band mean of the image maxima of the training blends (see
:mod:`galprior.data.blends` for the choice of images); :func:`denormalise` is its exact
inverse. Kept apart from :mod:`galprior.data.blends` so that training, evaluation and
figure jobs need neither BlendingToolKit nor GalSim.
"""

from __future__ import annotations

import numpy as np

from galprior.store.nguyen import BlendSet

# Channel order of the networks: LSST's six bands; DES's five (g r i z Y).
NETWORK_BANDS = ("u", "g", "r", "i", "z", "y")
DES_BANDS = ("g", "r", "i", "z", "Y")


def mean_band_maxima(images: np.ndarray) -> np.ndarray:
    """``⟨max(x_raw,b)⟩``: per-band mean over images of each image's maximum; ``(B,)``."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"expected (N, B, H, W) images, got shape {images.shape}")
    maxima = images.max(axis=(-2, -1)).mean(axis=0)
    if np.any(maxima <= 0):
        raise ValueError(f"non-positive mean band maximum {maxima}: cannot normalise")
    return maxima


def normalise(images: np.ndarray, band_scale: np.ndarray, beta: float) -> np.ndarray:
    """Eq. 9: ``tanh(asinh(β x / ⟨max⟩_b))`` over the band axis (-3); values in (-1, 1)."""
    scale = np.asarray(band_scale, dtype=np.float64)[:, None, None]
    return np.tanh(np.arcsinh(beta * np.asarray(images, dtype=np.float64) / scale)).astype(np.float32)


def denormalise(normalised: np.ndarray, band_scale: np.ndarray, beta: float, clip: float = 1e-6) -> np.ndarray:
    """Exact inverse of :func:`normalise`: ``⟨max⟩_b sinh(atanh(y)) / β``.

    Values are clipped to ``|y| <= 1 - clip`` first (a sigmoid output may reach 1).
    """
    scale = np.asarray(band_scale, dtype=np.float64)[:, None, None]
    y = np.clip(np.asarray(normalised, dtype=np.float64), -1 + clip, 1 - clip)
    return scale * np.sinh(np.arctanh(y)) / beta


def to_network_bands(images: np.ndarray, survey: str, u_band: str) -> np.ndarray:
    """DES (g r i z Y) images on the six LSST channels, with the u channel set to zero.

    ``u_band``: ``"zeros"`` (the report, sec. 3.2) fills the missing u band with zeros for
    an LSST-trained network; ``"des_training"`` keeps the five DES bands for a network
    trained on DES-like simulations (the report's suggested improvement, sec. 4.3.2).
    LSST images pass through unchanged.
    """
    if survey == "lsst" or u_band == "des_training":
        return images
    if u_band != "zeros":
        raise ValueError(f"nguyen.des.u_band must be 'zeros' or 'des_training', got {u_band!r}")
    zeros = np.zeros_like(images[..., :1, :, :])
    return np.concatenate([zeros, images], axis=-3)




def network_bands(model_survey: str) -> list[str]:
    """Channel names of a network trained on ``model_survey`` blends."""
    return list(NETWORK_BANDS) if model_survey == "lsst" else list(DES_BANDS)


def network_inputs(blends: BlendSet, product: str, model_survey: str, u_band: str) -> tuple[np.ndarray, np.ndarray]:
    """Normalised (eq. 9) images of ``product`` on the channels of a ``model_survey`` network.

    Returns the images and the per-channel constants (1 for an empty u channel).
    """
    scale = np.asarray(blends.attrs["band_scale"], dtype=np.float64)
    images = normalise(getattr(blends, product), scale, blends.attrs["normalisation_beta"])
    survey = blends.attrs["survey"]
    if survey == model_survey:
        return images, scale
    if survey == "des" and model_survey == "lsst" and u_band == "zeros":
        return to_network_bands(images, "des", "zeros"), np.concatenate([[1.0], scale])
    raise ValueError(f"a {model_survey} network cannot read {survey} blends with nguyen.des.u_band = {u_band!r}")
