"""Training images of the score prior, prepared exactly as the mock-lens sources are.

The mocks' sources are denoised, clipped, unit-peak galaxy stamps
(:func:`galprior.lensing.mocks.make_source`); the prior must learn that same
distribution, so every training stamp goes through ``make_source`` (its ``scale`` output
is ignored: the source-plane size is a lens-model parameter, not part of the image), then
is average-pooled to ``source_size`` pixels per side (``adam.source_size``; the quick
default learns 32^2 sources, the paper 256^2). PROBES images (``data.probes``) are
already normalised by the loader and only pooled.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

from galprior.lensing.mocks import clean_source_image
from galprior.lensing.products import pool_to

__all__ = ["pool_to", "prepare_training_images"]


def prepare_training_images(stamps: NDArray, source_size: int, denoise: bool = True) -> NDArray[np.float32]:
    """``make_source`` on every stamp (N, M, M), then pool to ``source_size``."""
    out = [clean_source_image(stamp, denoise=denoise) for stamp in tqdm(stamps, desc="preparing training galaxies",
                                                                    leave=False)]
    return pool_to(np.asarray(out), source_size)
