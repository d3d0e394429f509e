"""The galaxies of the score prior, one set at one resolution (rule prepare_score_galaxies).

Adam et al. 2022 sec. 3 train on PROBES at 256^2 and take the source of Fig. 1 from "our
test set": training images, the prior-sample comparison, the mock sources and the
evaluation's truth are the same galaxies at the prior's resolution. Two routes
(``adam.training_product``):

* ``probes`` (the paper): the PROBES cut-outs (:func:`galprior.data.probes.load_probes`:
  central crop, resampled to ``adam.source_size``, normalised), split into train / val /
  test by a seeded permutation (``adam.probes.split_sizes``; the paper gives no split);
* a galaxy product (``chianese``, ``lanusse``; the quick default): its train / val / test
  stamps, each denoised, clipped and normalised to unit peak as the mock sources always
  were (:func:`galprior.lensing.mocks.clean_source_image`), resampled to
  ``adam.source_size`` (:func:`galprior.data.preprocess.resample_mean`, which goes down and
  up) and normalised by ``adam.normalisation``.

Every split is a :class:`galprior.store.ScoreGalaxySet` in the prior's units.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from galprior.progress import progress_bar

from galprior.data.score_normalisation import normalise_image
from galprior.store import GalaxySet, ScoreGalaxySet

__all__ = ["prepare_product_images", "score_galaxies_from_product", "score_galaxies_from_probes"]

SPLITS = ("train", "val", "test")


def prepare_product_images(stamps: NDArray, source_size: int, normalisation: str,
                           denoise: bool = True) -> NDArray[np.float32]:
    """Stamps (N, H, W) -> (N, source_size, source_size) in the prior's units: denoised unit-peak
    stamp (``clean_source_image``), resampled keeping surface brightness, normalised
    (``smith2022`` with clip level 1: x = 2 s - 1)."""
    from galprior.data.preprocess import resample_mean
    from galprior.lensing.mocks import clean_source_image

    out = [normalise_image(resample_mean(clean_source_image(stamp, denoise=denoise), source_size),
                           normalisation, clip_level=1.0)
           for stamp in progress_bar(stamps, desc="preparing score galaxies", leave=False)]
    return np.asarray(out, dtype=np.float32).reshape(len(out), source_size, source_size)


def score_galaxies_from_product(galaxies: GalaxySet, split: str, *, source_size: int,
                                normalisation: str) -> ScoreGalaxySet:
    """One split of a galaxy product as score galaxies (:func:`prepare_product_images`)."""
    images = prepare_product_images(galaxies.images, source_size, normalisation)
    names = [str(i) for i in galaxies.properties["ident"].to_numpy()]
    return ScoreGalaxySet(images=images, source_index=np.arange(len(images), dtype=np.int64),
                          attrs={"source": f"{galaxies.attrs['source']}/{galaxies.attrs['product']}",
                                 "split": split, "normalisation": normalisation, "source_size": source_size,
                                 "names": names, "band": galaxies.attrs["band"]})


def score_galaxies_from_probes(directory: str, *, band: str, crop: int | None, clip_level: float,
                               split_sizes: dict[str, int], source_size: int, normalisation: str,
                               seed: int) -> dict[str, ScoreGalaxySet]:
    """The PROBES galaxies split into train (the rest), val and test (``split_sizes``)."""
    from galprior.data.probes import load_probes
    from galprior.data.splits import split_indices

    images, names = load_probes(directory, band, source_size, crop=crop, normalisation=normalisation,
                                clip_level=clip_level)
    sizes = {"train": None, "val": split_sizes["val"], "test": split_sizes["test"]}
    try:
        index = split_indices(len(images), sizes, seed)
    except ValueError as err:
        raise ValueError(f"adam.probes.split_sizes {dict(split_sizes)}: {err} (usable PROBES galaxies of "
                         f"band {band!r} in {directory})") from err
    return {split: ScoreGalaxySet(images=images[rows], source_index=rows,
                                  attrs={"source": "probes", "split": split, "normalisation": normalisation,
                                         "source_size": source_size, "names": [names[i] for i in rows],
                                         "band": band, "directory": str(directory), "crop": crop,
                                         "clip_level": clip_level})
            for split, rows in index.items()}
