"""Train/validation/test splits of a galaxy set by a seeded permutation."""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)


def required_count(sizes: dict[str, int | None]) -> int | None:
    """Galaxies needed for ``sizes``; None when a split takes all remaining galaxies."""
    if any(size is None for size in sizes.values()):
        return None
    return int(sum(sizes.values()))


def split_indices(n: int, sizes: dict[str, int | None], seed: int) -> dict[str, np.ndarray]:
    """Disjoint index arrays into ``range(n)``, one per split, from a seeded permutation.

    Args:
        n: number of galaxies.
        sizes: split name -> number of galaxies, in order; at most one split (usually
            ``train``) may be None, meaning all galaxies the others leave.
        seed: seed of the permutation (``numpy.random.default_rng(seed)``).

    Returns:
        split name -> sorted int64 indices.

    Raises:
        ValueError: a negative size, more than one None, or not enough galaxies (naming
            the split and the numbers).
    """
    open_ended = [name for name, size in sizes.items() if size is None]
    if len(open_ended) > 1:
        raise ValueError(f"only one split may take the remaining galaxies (size None), "
                         f"got {open_ended}")
    for name, size in sizes.items():
        if size is not None and size < 0:
            raise ValueError(f"split {name!r} has a negative size {size}")
    fixed = sum(size for size in sizes.values() if size is not None)
    if fixed > n:
        raise ValueError(f"not enough galaxies: the splits {dict(sizes)} need {fixed}, "
                         f"only {n} are available")
    permutation = np.random.default_rng(seed).permutation(n)
    out: dict[str, np.ndarray] = {}
    start = 0
    for name, size in sizes.items():
        if size is None:
            continue
        out[name] = np.sort(permutation[start:start + size]).astype(np.int64)
        start += size
    for name in open_ended:
        if n - start == 0:
            raise ValueError(f"split {name!r} (all remaining galaxies) would be empty: "
                             f"{n} galaxies, {fixed} taken by the other splits")
        out[name] = np.sort(permutation[start:]).astype(np.int64)
    logger.info("split %d galaxies: %s", n, {k: len(v) for k, v in out.items()})
    return {name: out[name] for name in sizes}
