"""Training images of the score prior, prepared exactly as the mock-lens sources are.

The mocks' sources are denoised, clipped, unit-peak galaxy stamps
(:func:`galprior.lensing.mocks.make_source`); the prior must learn that same
distribution, so every training stamp goes through ``make_source`` (its ``scale`` output
is ignored: the source-plane size is a lens-model parameter, not part of the image), then
is average-pooled to ``source_size`` pixels per side (``adam.source_size``; the quick
default learns 32^2 sources, the paper 256^2). PROBES images (``data.probes``) are
already normalised by the loader and only pooled.

The preparation (a non-local-means denoising, ~7 ms per 64^2 stamp) is too slow to redo
for every batch of a 350,000-step run, so :func:`write_training_images` runs it once, a
store chunk at a time, into a Zarr array that training then streams from (memory: one
chunk, not the training set).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import zarr
from numpy.typing import NDArray
from tqdm.auto import tqdm

from galprior.lensing.mocks import clean_source_image
from galprior.lensing.products import pool_to

__all__ = ["pool_to", "prepare_training_images", "write_training_images"]


def prepare_training_images(stamps: NDArray, source_size: int, denoise: bool = True) -> NDArray[np.float32]:
    """``make_source`` on every stamp (N, M, M), then pool to ``source_size``."""
    out = [clean_source_image(stamp, denoise=denoise) for stamp in tqdm(stamps, desc="preparing training galaxies",
                                                                    leave=False)]
    return pool_to(np.asarray(out), source_size)


def write_training_images(stamps: Any, source_size: int, path: str | os.PathLike) -> zarr.Array:
    """:func:`prepare_training_images` of every stamp of ``stamps`` (a galaxy store's
    :class:`~galprior.store.StoreReader`), chunk by chunk, into a float32 Zarr array at
    ``path`` (a scratch folder of the training job, ``(N, source_size, source_size)``,
    chunked as the store); returns the array."""
    out = zarr.open_array(str(path), mode="w", shape=(len(stamps), source_size, source_size),
                          dtype="float32", chunks=(stamps.chunk_length, source_size, source_size))
    for part in tqdm(stamps.chunks(), desc="preparing training galaxies (chunks)"):
        out[part] = prepare_training_images(stamps.read("images", part), source_size)
    return out
