"""The eq. 9 normalisation of Nguyen 2025 and the network channels (numpy only, no BTK).

``x_b = tanh(asinh(β x_raw,b / ⟨max⟩_b))`` (Arcelin et al. 2020), ``β = 2.5``, with
``⟨max⟩_b`` the per-band mean of the image maxima of the training blends (see
:mod:`galprior.data.blends` for the choice of images); :func:`denormalise` is its exact
inverse. Kept apart from :mod:`galprior.data.blends` so that training, evaluation and
figure jobs need neither BlendingToolKit nor GalSim.

:func:`normalise` computes in float32, one batch at a time where the training loops
call it (:func:`galprior.models.deblender.products.blend_view`): no float64 copy of a
training split (at 180,000 blends the float64 temporaries of the whole set were ~60 GB).
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
    return mean_of_maxima(images.max(axis=(-2, -1)))


def mean_of_maxima(maxima: np.ndarray) -> np.ndarray:
    """Per-band mean of per-image band maxima ``(N, B)`` (gathered chunk by chunk by a
    streaming merge: the same numbers, so the same constants as :func:`mean_band_maxima`)."""
    scale = np.asarray(maxima).mean(axis=0)
    if np.any(scale <= 0):
        raise ValueError(f"non-positive mean band maximum {scale}: cannot normalise")
    return scale


def normalise(images: np.ndarray, band_scale: np.ndarray, beta: float) -> np.ndarray:
    """Eq. 9: ``tanh(asinh(β x / ⟨max⟩_b))`` over the band axis (-3); values in (-1, 1).

    Computed in float32 (the images' and the networks' precision; every temporary is
    the size of ``images`` in float32).
    """
    scale = np.asarray(band_scale, dtype=np.float32)[:, None, None]
    x = np.asarray(images, dtype=np.float32)
    return np.tanh(np.arcsinh(np.float32(beta) * x / scale))


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


def channel_scale(attrs: dict, model_survey: str, u_band: str) -> np.ndarray:
    """Eq. 9 constants of a ``model_survey`` network's channels for blends with ``attrs``
    (a blend store's attributes; 1 for an empty u channel)."""
    scale = np.asarray(attrs["band_scale"], dtype=np.float64)
    survey = attrs["survey"]
    if survey == model_survey:
        return scale
    if survey == "des" and model_survey == "lsst" and u_band == "zeros":
        return np.concatenate([[1.0], scale])
    raise ValueError(f"a {model_survey} network cannot read {survey} blends with nguyen.des.u_band = {u_band!r}")


def network_images(images: np.ndarray, attrs: dict, model_survey: str, u_band: str) -> np.ndarray:
    """Raw ``images`` of blends with ``attrs``, normalised (eq. 9) on the channels of a
    ``model_survey`` network (a batch, or a whole set)."""
    channel_scale(attrs, model_survey, u_band)  # refuses a survey the network cannot read
    normalised = normalise(images, np.asarray(attrs["band_scale"]), attrs["normalisation_beta"])
    if attrs["survey"] == model_survey:
        return normalised
    return to_network_bands(normalised, "des", "zeros")


def network_inputs(blends: BlendSet, product: str, model_survey: str, u_band: str) -> tuple[np.ndarray, np.ndarray]:
    """Normalised (eq. 9) images of ``product`` on the channels of a ``model_survey`` network.

    Returns the images and the per-channel constants (1 for an empty u channel). The
    whole set at once: the training and evaluation loops use a per-batch view instead
    (:func:`galprior.models.deblender.products.blend_view`).
    """
    return (network_images(getattr(blends, product), blends.attrs, model_survey, u_band),
            channel_scale(blends.attrs, model_survey, u_band))
