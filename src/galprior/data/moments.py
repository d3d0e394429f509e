"""Ellipticities of galaxy images from unweighted second moments (Nguyen 2025 eqs. 12-13).

:func:`moment_ellipticity` takes the second moments ``Q_ij`` about the centroid of the
light with a uniform weight ``W = 1`` (the report's choice), then
``e1 = (Qxx - Qyy)/(Qxx + Qyy)``, ``e2 = 2 Qxy/(Qxx + Qyy)``: the *distortion*
``(a² - b²)/(a² + b²)`` of an elliptical profile
(:func:`galprior.metrics.deblending.distortion_to_shear` converts to the reduced shear).
Axes: ``x`` is the column index, ``y`` the row index of an ``(H, W)`` array, as GalSim
draws them. Negative pixels (noise, a reconstruction below zero) are clipped to zero first
so that the moment matrix stays positive. It measures the blend labels (``e_moments``,
:mod:`galprior.data.blends`) and, the same way, the deblender's reconstructions
(:mod:`galprior.models.deblender`, :mod:`galprior.metrics.deblending`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["image_moments", "moment_ellipticity"]


def image_moments(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unweighted second moments ``(Qxx, Qyy, Qxy)`` of ``images`` (``(..., H, W)``), eq. 13.

    Unit: pixel². Moments are taken about each image's own centroid; pixels below zero
    count as zero.
    """
    images = np.clip(np.asarray(images, dtype=np.float64), 0.0, None)
    h, w = images.shape[-2:]
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    flux = images.sum(axis=(-2, -1))
    safe = np.where(flux > 0, flux, 1.0)
    xc = (images * x).sum(axis=(-2, -1)) / safe
    yc = (images * y).sum(axis=(-2, -1)) / safe
    dx = x - xc[..., None, None]
    dy = y - yc[..., None, None]
    qxx = (images * dx * dx).sum(axis=(-2, -1)) / safe
    qyy = (images * dy * dy).sum(axis=(-2, -1)) / safe
    qxy = (images * dx * dy).sum(axis=(-2, -1)) / safe
    return qxx, qyy, qxy


def moment_ellipticity(images: np.ndarray) -> np.ndarray:
    """Ellipticity ``(e1, e2)`` from unweighted second moments, eq. 12; shape ``(..., 2)``.

    An empty image (no positive flux) gives ``(0, 0)``.
    """
    qxx, qyy, qxy = image_moments(images)
    trace = qxx + qyy
    safe = np.where(trace > 0, trace, 1.0)
    e1 = np.where(trace > 0, (qxx - qyy) / safe, 0.0)
    e2 = np.where(trace > 0, 2.0 * qxy / safe, 0.0)
    return np.stack([e1, e2], axis=-1)
