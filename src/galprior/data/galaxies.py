"""Galaxy-set preparation: a source and a product chosen by name, split into GalaxySets.

This is the one entry point of the data stage, :func:`prepare_galaxy_splits`. A
*source* yields batches of native-resolution :class:`RawStamp` records
(``SOURCES``: ``cosmos`` real HST/ACS galaxies, ``simulated`` the embedded GalSim
default); a *product* turns stamps into training images (``PRODUCTS``: ``chianese``
Chianese et al. 2020, ``lanusse`` Lanusse et al. 2021). Every source goes through the
same product code. Stamps are drawn batch by batch until the product has kept enough
galaxies for the requested splits, then split by a seeded permutation.

Options (keys of the dictionaries; the config schema mirrors them)
------------------------------------------------------------------
``split_sizes``: ``{"train": int | None, "val": int, "test": int}``; ``train: None``
takes every galaxy left (COSMOS only; a simulated source needs a number).

``cosmos_options`` (source ``cosmos``; one COSMOS sample per product, the config's
``galaxies.cosmos.<product>``), see :func:`galprior.data.cosmos.iter_cosmos_stamps`:
required ``directory``, ``catalogue_file``, ``exclusion_level`` and ``mag_column`` (they
differ between the two papers' samples); ``flux_radius_column`` ("flux_radius"),
``redshift_column`` ("zphot"), ``hlr_column`` ("hlr"; null = use the flux radius),
``flux_radius_in_pixels`` (true), ``max_galaxies`` (null), ``batch_size`` (500).

``simulated_options`` (source ``simulated``), see :mod:`galprior.data.simulated`:
``batch_size`` (100), ``max_galaxies`` (200000: the safety limit on galaxies drawn),
``workers`` (1: processes drawing batches; the result does not depend on it),
``noise_variance`` (6.8e-6), ``mag_min`` (20.0), ``mag_max`` (25.2),
``knot_fraction`` (0.2), ``n_knots`` (50), ``jitter_sigma`` (0.025).

``product_options``: for ``chianese``: ``output_size`` (64), ``min_stamp_size`` (64),
``snr_min`` (15.0), ``snr_max`` (50.0), ``snr_block`` (4), ``psf_size`` (32),
``native_psf_size`` (64); for ``lanusse``: ``stamp_size`` (128), ``psf_size`` (64).
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from itertools import count
from typing import Any

import numpy as np
import pandas as pd
from galprior.progress import progress_bar

from galprior.data import cosmos, simulated
from galprior.data.preprocess import RawStamp, chianese_stamp, check_finite, fit_psf, \
    noise_power_spectrum, select_chianese
from galprior.data.splits import required_count, split_indices
from galprior.store import GalaxySet, StoreReader

logger = logging.getLogger(__name__)

NATIVE_UNIT = "e-/s per pixel (HST/ACS F814W, zeropoint 25.94)"


# -- products --------------------------------------------------------------------------

CHIANESE_DEFAULTS = {"output_size": 64, "min_stamp_size": 64, "snr_min": 15.0,
                     "snr_max": 50.0, "snr_block": 4, "psf_size": 32, "native_psf_size": 64}
LANUSSE_DEFAULTS = {"stamp_size": 128, "psf_size": 64}


def chianese_product(stamps: list[RawStamp], *, output_size: int = 64,
                     min_stamp_size: int = 64, snr_min: float = 15.0, snr_max: float = 50.0,
                     snr_block: int = 4, psf_size: int = 32, native_psf_size: int = 64,
                     ) -> tuple[list[RawStamp], Counter]:
    """Chianese et al. (2020) images: size cut, square crop, resample, S/N cut, max = 1.

    Stamps with a side below ``min_stamp_size`` pixels are dropped; the others are
    cropped to a square, resampled (flux-conserving) to ``output_size`` pixels, kept
    when ``snr_min <= snr <= snr_max`` (:func:`~galprior.data.preprocess.chianese_snr`
    with ``snr_block``) and divided by their maximum. ``native_psf_size`` is used by the
    sources (side of the native PSF image) and unused here.
    """
    del native_psf_size
    sizes = np.array([min(s.image.shape) for s in stamps])
    processed: list[RawStamp | None] = []
    snr = np.full(len(stamps), np.nan)
    for i, stamp in enumerate(stamps):
        if sizes[i] < min_stamp_size:
            processed.append(None)
            continue
        out, snr[i] = chianese_stamp(stamp, output_size=output_size, psf_size=psf_size,
                                     snr_block=snr_block)
        processed.append(out)
    keep, counts = select_chianese(sizes, snr, min_stamp_size=min_stamp_size,
                                   snr_min=snr_min, snr_max=snr_max)
    return [p for p, k in zip(processed, keep) if k], counts


def lanusse_product(stamps: list[RawStamp], *, stamp_size: int = 128, psf_size: int = 64,
                    ) -> tuple[list[RawStamp], Counter]:
    """Lanusse et al. (2021) images: native 0.03"/pixel stamps of ``stamp_size``, unnormalised.

    The sources render these stamps (noise-padded real galaxies convolved with their
    own PSF; simulated galaxies drawn on the stamp); here the shape is checked and the
    PSF fitted to ``psf_size`` (sum 1).
    """
    out = []
    for stamp in stamps:
        if stamp.image.shape != (stamp_size, stamp_size):
            raise ValueError(f"galaxy IDENT={stamp.ident}: Lanusse stamps must be "
                             f"({stamp_size}, {stamp_size}), got {stamp.image.shape}")
        out.append(replace(stamp, psf=fit_psf(stamp.psf, psf_size)))
    return out, Counter(kept=len(out))


@dataclass(frozen=True)
class Product:
    """A product: how sources must render stamps, how stamps are processed, its unit."""

    defaults: dict[str, Any]
    process: Callable[..., tuple[list[RawStamp], Counter]]
    image_unit: str
    stamp_size: Callable[[dict[str, Any]], int | None]
    native_psf_size: Callable[[dict[str, Any]], int]


PRODUCTS: dict[str, Product] = {
    "chianese": Product(CHIANESE_DEFAULTS, chianese_product,
                        "1 (observed image divided by its maximum pixel)",
                        lambda o: None, lambda o: o["native_psf_size"]),
    "lanusse": Product(LANUSSE_DEFAULTS, lanusse_product, NATIVE_UNIT,
                       lambda o: o["stamp_size"], lambda o: o["psf_size"]),
}


# -- sources ---------------------------------------------------------------------------

SIMULATED_DEFAULTS = {"batch_size": 100, "max_galaxies": 200_000, "workers": 1,
                      "noise_variance": simulated.NOISE_VARIANCE, "mag_min": 20.0,
                      "mag_max": 25.2, "knot_fraction": 0.2, "n_knots": 50,
                      "jitter_sigma": 0.025}
#: The options every COSMOS sample must name (no default: the two papers' samples differ).
COSMOS_REQUIRED = ("directory", "catalogue_file", "exclusion_level", "mag_column")
COSMOS_DEFAULTS = {**dict.fromkeys(COSMOS_REQUIRED), "flux_radius_column": "flux_radius",
                   "redshift_column": "zphot", "hlr_column": "hlr",
                   "flux_radius_in_pixels": True, "max_galaxies": None, "batch_size": 500}


def _die_with_parent() -> None:
    """Worker initializer: end the worker when the job process dies (Linux PR_SET_PDEATHSIG).

    A job killed with SIGKILL (out of memory, pre-emption of one process) cannot shut
    its pool down; without this its workers would wait for work forever.
    """
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def simulated_batches(options: dict[str, Any], *, stamp_size: int | None, psf_size: int,
                      seed: int, shard: int = 0, n_shards: int = 1) -> Iterator[list[RawStamp]]:
    """Endless batches of simulated stamps (the caller enforces ``max_galaxies``).

    With ``workers > 1`` batches are drawn in that many processes, ``workers`` batches
    ahead; batch ``b`` depends only on ``(seed, b)``, so the result does not depend on
    ``workers``. Shard ``k`` of ``n`` draws the batches ``b = k, k + n, k + 2n, ...``.
    """
    kwargs = {k: v for k, v in options.items()
              if k not in ("batch_size", "max_galaxies", "workers")}
    draw = partial(simulated.simulate_batch, seed, n=options["batch_size"],
                   stamp_size=stamp_size, psf_size=psf_size, **kwargs)
    workers = int(options["workers"])
    numbers = count(shard, n_shards)
    if workers <= 1:
        for batch in numbers:
            yield draw(batch)
        return
    with ProcessPoolExecutor(workers, initializer=_die_with_parent) as pool:
        pending: deque = deque(pool.submit(draw, next(numbers)) for _ in range(workers))
        try:
            while True:
                result = pending.popleft().result()
                pending.append(pool.submit(draw, next(numbers)))
                yield result
        finally:
            for future in pending:
                future.cancel()


def cosmos_batches(options: dict[str, Any], *, stamp_size: int | None, psf_size: int,
                   seed: int, shard: int = 0, n_shards: int = 1) -> Iterator[list[RawStamp]]:
    """Batches of COSMOS stamps in a seeded random order (shard k of n: every n-th)."""
    missing = [key for key in COSMOS_REQUIRED if options.get(key) is None]
    if missing:
        raise ValueError(f"source 'cosmos' needs the option(s) {missing} (the config's "
                         f"galaxies.cosmos.<product> block), got {options}; "
                         + cosmos.DOWNLOAD_HINT)
    return cosmos.iter_cosmos_stamps(stamp_size=stamp_size, psf_size=psf_size, seed=seed,
                                     shard=shard, n_shards=n_shards, **options)


@dataclass(frozen=True)
class Source:
    """A galaxy source: defaults, batch generator, attributes of the sets it makes."""

    defaults: dict[str, Any]
    batches: Callable[..., Iterator[list[RawStamp]]]
    noiseless_is_truth: bool
    unbounded: bool  # draws until enough galaxies pass (needs a finite request)


SOURCES: dict[str, Source] = {
    "simulated": Source(SIMULATED_DEFAULTS, simulated_batches, True, True),
    "cosmos": Source(COSMOS_DEFAULTS, cosmos_batches, False, False),
}


# -- assembly --------------------------------------------------------------------------

def merge_options(kind: str, name: str, defaults: dict[str, Any],
                  options: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults updated by ``options``; ValueError naming an unknown key."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(f"unknown {kind} option(s) {unknown} for {name!r}; "
                         f"expected some of {sorted(defaults)}")
    return {**defaults, **options}


def collect_stamps(source: Source, source_options: dict[str, Any], product: Product,
                   product_options: dict[str, Any], needed: int | None, seed: int,
                   shard: int = 0, n_shards: int = 1) -> list[RawStamp]:
    """Run source batches through the product until ``needed`` stamps are kept (None: all)."""
    kept: list[RawStamp] = []
    counts: Counter = Counter()
    limit = source_options.get("max_galaxies") if source.unbounded else None
    if limit is not None:
        limit = -(-limit // n_shards)
    batches = source.batches(source_options, stamp_size=product.stamp_size(product_options),
                             psf_size=product.native_psf_size(product_options), seed=seed,
                             shard=shard, n_shards=n_shards)
    with progress_bar(total=needed, desc="galaxies kept", unit="gal") as bar:
        for batch in batches:
            for stamp in batch:
                check_finite(stamp)
            out, batch_counts = product.process(batch, **product_options)
            counts += batch_counts
            counts["drawn"] += len(batch)
            kept.extend(out)
            bar.update(len(out) if needed is None else min(len(out), needed - bar.n))  # tqdm drops a total it passes
            bar.set_postfix(drawn=counts["drawn"])
            if needed is not None and len(kept) >= needed:
                break
            if limit is not None and counts["drawn"] >= limit:
                raise RuntimeError(
                    f"only {len(kept)} of the {needed} galaxies requested passed the cuts "
                    f"after drawing {counts['drawn']} (the max_galaxies safety limit); "
                    f"cuts: {dict(counts)}; raise max_galaxies or request fewer galaxies")
    logger.info("stamps drawn and dropped per cut: %s", dict(counts))
    return kept[:needed] if needed is not None else kept


def to_galaxy_set(stamps: list[RawStamp], attrs: dict[str, Any]) -> GalaxySet:
    """Stack processed stamps into a :class:`GalaxySet`."""
    images = np.stack([s.image for s in stamps]).astype(np.float32)
    noiseless = np.stack([s.image if s.noiseless is None else s.noiseless
                          for s in stamps]).astype(np.float32)
    properties = pd.DataFrame({
        "ident": np.array([s.ident for s in stamps], dtype=np.int64),
        "mag": np.array([s.mag for s in stamps], dtype=np.float64),
        "half_light_radius": np.array([s.half_light_radius for s in stamps], np.float64),
        "flux_radius": np.array([s.flux_radius for s in stamps], dtype=np.float64),
        "redshift": np.array([s.redshift for s in stamps], dtype=np.float64),
    })
    noise_power = np.stack([noise_power_spectrum(s.noise_variance, s.noise_correlation,
                                                 s.image.shape) for s in stamps])
    parametric = np.stack([np.full(s.image.shape, np.nan) if s.parametric is None
                           else s.parametric for s in stamps])
    return GalaxySet(
        images=images, noiseless=noiseless,
        noise_power=noise_power.astype(np.float32), parametric=parametric.astype(np.float32),
        psf=np.stack([s.psf for s in stamps]).astype(np.float32),
        noise_variance=np.array([s.noise_variance for s in stamps], dtype=np.float32),
        pixel_scale=np.array([s.pixel_scale for s in stamps], dtype=np.float32),
        properties=properties, attrs=attrs)


def _check_names(source: str, product: str) -> tuple[Source, Product]:
    if source not in SOURCES:
        raise ValueError(f"unknown galaxy source {source!r}; expected one of {sorted(SOURCES)}")
    if product not in PRODUCTS:
        raise ValueError(f"unknown galaxy product {product!r}; "
                         f"expected one of {sorted(PRODUCTS)}")
    return SOURCES[source], PRODUCTS[product]


def prepare_galaxy_shard(source: str, product: str, split_sizes: dict[str, int | None],
                         seed: int, shard: int = 0, n_shards: int = 1,
                         cosmos_options: dict[str, Any] | None = None,
                         simulated_options: dict[str, Any] | None = None,
                         product_options: dict[str, Any] | None = None) -> GalaxySet:
    """The galaxies of shard ``shard`` of ``n_shards`` that pass the product's cuts.

    Shards are independent jobs: a simulated shard draws its own batches until it holds
    ``ceil(total / n_shards)`` galaxies; a COSMOS shard reads every ``n_shards``-th row
    of the seeded catalogue order (stopping at its quota when the splits are finite).
    :func:`split_galaxy_shards` joins them. Arguments as :func:`prepare_galaxy_splits`.
    """
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} is not in 0..{n_shards - 1}")
    src, prod = _check_names(source, product)
    src_options = merge_options("source", source, src.defaults,
                                cosmos_options if source == "cosmos" else simulated_options)
    prod_options = merge_options("product", product, prod.defaults, product_options)
    needed = required_count(split_sizes)
    if needed is None and src.unbounded:
        raise ValueError(f"source {source!r} draws galaxies until the request is met: "
                         f"give every split a size, got {split_sizes}")
    quota = None if needed is None else -(-needed // n_shards)
    stamps = collect_stamps(src, src_options, prod, prod_options, quota, seed, shard, n_shards)
    if not stamps:
        raise ValueError(f"shard {shard} of {n_shards} kept no {product!r} galaxy from "
                         f"{source!r}: loosen the cuts or use fewer shards")
    attrs = {"source": source, "product": product, "band": "F814W",
             "image_unit": prod.image_unit, "noiseless_is_truth": src.noiseless_is_truth,
             "psf_centre": "pixel (P // 2, P // 2)",
             "source_options": dict(src_options), "product_options": prod_options}
    return to_galaxy_set(stamps, attrs)


def split_galaxy_shards(shards: list[GalaxySet], split_sizes: dict[str, int | None],
                        seed: int) -> dict[str, GalaxySet]:
    """Join shards (in order) and split them by a seeded permutation."""
    galaxies = GalaxySet.concatenate(shards)
    needed = required_count(split_sizes)
    if needed is not None and len(galaxies) > needed:
        galaxies = galaxies.subset(np.arange(needed))
    indices = split_indices(len(galaxies), split_sizes, seed)
    out = {}
    for name, index in indices.items():
        part = galaxies.subset(index)
        part.attrs["split"] = name
        out[name] = part
    return out


def split_galaxy_stores(shards: list[StoreReader], split_sizes: dict[str, int | None], seed: int,
                        outputs: dict[str, Any], config: dict[str, Any] | None = None) -> dict[str, int]:
    """:func:`split_galaxy_shards` of shard stores (opened lazily), each split saved to
    ``outputs[split]``, a shard chunk at a time.

    The same stores as :func:`split_galaxy_shards` followed by ``save(seed=seed,
    config=config)``, without the galaxies in memory: the split indices come from the
    shard lengths alone, every chunk of every shard is read once and its galaxies are
    appended to the splits they belong to (in order); the stores are renamed into place
    in the order of ``split_sizes`` once all are complete. Returns the split sizes.
    """
    n = sum(len(shard) for shard in shards)
    needed = required_count(split_sizes)
    if needed is not None:
        n = min(n, needed)
    indices = split_indices(n, split_sizes, seed)
    writers = {name: GalaxySet.writer(outputs[name], len(index), template=shards[0],
                                      attrs={**shards[0].attrs, "split": name}, seed=seed, config=config)
               for name, index in indices.items()}
    opened = []
    try:
        for writer in writers.values():
            opened.append(writer.__enter__())
        offset = 0
        for shard in progress_bar(shards, desc="splitting shards", unit="shard"):
            for part in shard.chunks(stop=n - offset):
                galaxies = shard.entries(part)
                start, stop = offset + part.start, offset + part.stop
                for name, index in indices.items():
                    lo, hi = np.searchsorted(index, [start, stop])
                    if hi > lo:
                        writers[name].append(galaxies.subset(index[lo:hi] - start))
            offset += len(shard)
            if offset >= n:
                break
    except BaseException as err:
        for writer in reversed(opened):
            writer.__exit__(type(err), err, err.__traceback__)
        raise
    while opened:  # in split order; a failure aborts the rest
        writer = opened.pop(0)
        try:
            writer.__exit__(None, None, None)
        except BaseException as err:
            for rest in opened:
                rest.__exit__(type(err), err, err.__traceback__)
            raise
    return {name: len(index) for name, index in indices.items()}


def prepare_galaxy_splits(source: str, product: str, split_sizes: dict[str, int | None],
                          seed: int, cosmos_options: dict[str, Any] | None = None,
                          simulated_options: dict[str, Any] | None = None,
                          product_options: dict[str, Any] | None = None,
                          ) -> dict[str, GalaxySet]:
    """Galaxy splits of ``product`` images from ``source`` (see the module docstring).

    Args:
        source: a key of ``SOURCES`` ("simulated", "cosmos").
        product: a key of ``PRODUCTS`` ("chianese", "lanusse").
        split_sizes: split name -> size (one may be None: all remaining galaxies).
        seed: one integer seeding the simulation / catalogue order and the split.
        cosmos_options, simulated_options, product_options: option dictionaries; only
            the one of the chosen source is used.

    Returns:
        split name -> :class:`GalaxySet`, with attrs ``source``, ``product``, ``band``,
        ``image_unit``, ``noiseless_is_truth``, the merged options and the split name.
    """
    shard = prepare_galaxy_shard(source, product, split_sizes, seed,
                                 cosmos_options=cosmos_options,
                                 simulated_options=simulated_options,
                                 product_options=product_options)
    return split_galaxy_shards([shard], split_sizes, seed)
