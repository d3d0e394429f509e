"""Blended-galaxy data sets of Nguyen 2025 (sec. 3.1), drawn with BlendingToolKit 1.0.9.

Each blend is a ``stamp_pixels``² multi-band stamp (LSST: u g r i z y at 0.2"/pix; DES:
g r i z Y at 0.2637"/pix, surveycodex's values) holding 1 to ``max_galaxies`` CatSim
galaxies, the brightest always at the centre (:class:`BrightestCentredSampling`; BTK has
no such sampling function). For every blend three images are kept (sec. 3.1.2):

1. ``clean``: the noiseless isolated centre galaxy (the target);
2. ``isolated``: the same galaxy alone with noise;
3. ``blend``: the noisy blend.

BTK draws (1) and (3): ``CatsimGenerator`` renders the noiseless isolated galaxies and the
blend with its noise (Poisson noise of the galaxies plus the background-subtracted
Poisson noise of the sky). BTK has no "noisy isolated" product, so (2) is (1) with that
same noise model added here (:func:`add_btk_noise`).

Labels: ``e_moments``, the (e1, e2) of the noiseless centre galaxy from unweighted
second moments (eqs. 12-13) in ``ellipticity_band``; ``e_catalogue``, the catalogue's
intrinsic shape of its dominant component (the larger of bulge and disk flux), in the
same distortion convention ``(a²-b²)/(a²+b²)``, unconvolved (so rounder moments of
small galaxies differ from it by the PSF).

**Seeding that does not depend on sharding** (BTK issue #69: BTK's noise seeds depend on
``njobs``): blends are made in fixed *chunks* of ``chunk_size`` consecutive indices; chunk
``c`` of split ``s`` of survey ``v`` has its own ``SeedSequence(seed, spawn_key=(v, s, c))``
from which the sampling function, BTK's noise and the isolated-galaxy noise are seeded,
and BTK always runs one chunk with ``njobs=1``. A shard job draws a contiguous range of
whole chunks, so any number of shards gives bit-identical blends. The optional cut on
``|e_moments| > min_ellipticity`` (sec. 4.1) is applied per blend after drawing, so
it keeps that property; sizes are then those of the kept blends.

**Normalisation** (eq. 9, Arcelin et al. 2020): ``x_b = tanh(asinh(β x_raw,b / ⟨max⟩_b))``
with ``β = 2.5`` and ``⟨max⟩_b`` the per-band mean of the image maxima of the training
split. The report does not say which images give the maxima; this code uses the noisy
blends (the network's input, and the only product real data have), and the same
constants for all three products and for the validation split. They are stored in the
store's attributes; :func:`denormalise` is the exact inverse (both in
:mod:`galprior.data.normalisation`, which needs no BTK).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import btk
import numpy as np
from astropy.table import Table
from btk.sampling_functions import SamplingFunction

from galprior.data.catsim import add_des_y_band, load_catalogue
from galprior.data.moments import moment_ellipticity
from galprior.data.normalisation import (  # noqa: F401  (re-exported)
    NETWORK_BANDS, denormalise, mean_band_maxima, mean_of_maxima, network_bands, network_inputs, normalise,
    to_network_bands,
)
from galprior.store import StoreReader
from galprior.store.nguyen import BlendSet

logger = logging.getLogger(__name__)

SURVEY_CODES = {"lsst": 0, "des": 1}
SPLIT_CODES = {"train": 0, "val": 1}
BTK_SURVEY_NAMES = {"lsst": "LSST", "des": "DES"}


@dataclass(frozen=True)
class BlendSettings:
    """How blends are drawn; every value comes from the config block ``nguyen.blends``."""

    stamp_pixels: int
    min_galaxies: int
    max_galaxies: int
    max_shift: float  # arcsec, uniform in [-max_shift, max_shift] per axis for neighbours
    max_mag: float  # faint limit in mag_band for every galaxy
    mag_band: str  # band that defines "brightest" (LSST name; DES uses the same letter)
    ellipticity_band: str
    min_ellipticity: float
    chunk_size: int
    random_rotation: bool


class BrightestCentredSampling(SamplingFunction):
    """BTK sampling function placing the brightest galaxy of each blend at the centre.

    Draws ``n ~ U{min_number..max_number}`` distinct galaxies brighter than ``max_mag`` in
    ``mag_name``, sorts them brightest first, puts the first at ``(0, 0)`` and shifts the
    others uniformly within ``±max_shift`` arcsec per axis. With ``random_rotation`` the
    position angles of every galaxy get a uniform random rotation (BTK's own
    ``augment_data`` draws the same angles for every blend of a mini-batch, since it seeds
    from ``generate_state`` inside its loop).
    """

    def __init__(
        self,
        stamp_size: float,
        max_number: int,
        min_number: int,
        max_shift: float,
        seed: int,
        max_mag: float,
        mag_name: str,
        random_rotation: bool,
    ):
        super().__init__(stamp_size=stamp_size, max_number=max_number, min_number=min_number, seed=seed)
        if max_shift > stamp_size / 2:
            raise ValueError(f"max_shift {max_shift} arcsec puts galaxies outside a {stamp_size} arcsec stamp")
        self.max_shift = max_shift
        self.max_mag = max_mag
        self.mag_name = mag_name
        self.random_rotation = random_rotation

    def __call__(self, table: Table) -> Table:
        """One blend table, brightest galaxy first and at ``ra = dec = 0`` (arcsec offsets)."""
        if self.mag_name not in table.colnames:
            raise ValueError(f"catalogue has no column {self.mag_name!r} to choose the brightest galaxy")
        (pool,) = np.nonzero(np.asarray(table[self.mag_name]) <= self.max_mag)
        if len(pool) < self.max_number:
            raise ValueError(
                f"only {len(pool)} catalogue galaxies have {self.mag_name} <= {self.max_mag}; "
                f"need at least max_galaxies = {self.max_number}"
            )
        n = int(self.rng.integers(self.min_number, self.max_number + 1))
        rows = self.rng.choice(pool, size=n, replace=False)
        rows = rows[np.argsort(np.asarray(table[self.mag_name])[rows], kind="stable")]
        blend = table[rows]
        dx = self.rng.uniform(-self.max_shift, self.max_shift, size=n)
        dy = self.rng.uniform(-self.max_shift, self.max_shift, size=n)
        dx[0] = dy[0] = 0.0
        blend["ra"] = dx
        blend["dec"] = dy
        if self.random_rotation:
            angle = self.rng.uniform(0.0, 360.0, size=n)
            blend["pa_disk"] = (np.asarray(blend["pa_disk"]) + angle) % 360.0
            blend["pa_bulge"] = (np.asarray(blend["pa_bulge"]) + angle) % 360.0
        return blend


# The bands each survey must have (Nguyen 2025 sec. 3.1: LSST u g r i z y, DES g r i z Y).
SURVEY_BANDS = {"lsst": ["u", "g", "r", "i", "z", "y"], "des": ["g", "r", "i", "z", "Y"]}


def get_survey(survey: str):
    """BTK survey object (with BTK's default PSFs) for ``"lsst"`` or ``"des"``.

    Its bands are checked against :data:`SURVEY_BANDS`: surveycodex 1.2 (the oldest BTK
    1.0.9 accepts) has no DES Y band and would give 4-band DES blends; 1.3 has it.
    """
    if survey not in BTK_SURVEY_NAMES:
        raise ValueError(f"survey must be one of {sorted(BTK_SURVEY_NAMES)}, got {survey!r}")
    survey_obj = btk.survey.get_surveys(BTK_SURVEY_NAMES[survey])
    bands = list(survey_obj.available_filters)
    if bands != SURVEY_BANDS[survey]:
        from importlib.metadata import version

        raise RuntimeError(f"surveycodex {version('surveycodex')} gives {survey} the bands {bands}, not "
                           f"{SURVEY_BANDS[survey]}: install surveycodex>=1.3 (pyproject.toml)")
    return survey_obj


def stamp_size_arcsec(survey_obj, stamp_pixels: int) -> float:
    """BTK's stamp size (arcsec) giving exactly ``stamp_pixels`` (BTK truncates with ``int``)."""
    scale = survey_obj.pixel_scale.to_value("arcsec")
    return (stamp_pixels + 0.5) * scale


def survey_band_name(survey_obj, band: str) -> str:
    """The survey's own name of ``band`` (``"y"`` is ``"Y"`` for DES)."""
    for name in survey_obj.available_filters:
        if name.lower() == band.lower():
            return name
    raise ValueError(f"band {band!r} not in {survey_obj.name} bands {survey_obj.available_filters}")


def chunk_seed(seed: int, survey: str, split: str, chunk: int) -> np.random.SeedSequence:
    """The seed sequence of one chunk; independent of shards and of ``njobs``."""
    return np.random.SeedSequence(seed, spawn_key=(SURVEY_CODES[survey], SPLIT_CODES[split], chunk))


def add_btk_noise(images: np.ndarray, sky_level: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """BTK's ``add_noise="all"`` model: ``Poisson(image) + Poisson(sky) - sky``, per band.

    Args:
        images: noiseless images in electrons, ``(..., B, H, W)``.
        sky_level: mean sky per pixel in each band, electrons, ``(B,)``.
    """
    sky = np.asarray(sky_level, dtype=np.float64)[:, None, None]
    galaxy = rng.poisson(np.clip(images, 0.0, None)).astype(np.float64)
    background = rng.poisson(np.broadcast_to(sky, images.shape)).astype(np.float64) - sky
    return galaxy + background


def sky_levels(survey_obj) -> np.ndarray:
    """Mean sky per pixel (electrons) in each band of the survey, from surveycodex."""
    from surveycodex.utilities import mean_sky_level

    return np.array([mean_sky_level(survey_obj, survey_obj.get_filter(b)).to_value("electron") for b in survey_obj.available_filters])


def catalogue_ellipticity(blend: Table) -> np.ndarray:
    """Intrinsic (e1, e2) of the first row's dominant component, distortion convention.

    ``q = b/a`` and the position angle β (deg, counter-clockwise from +x as GalSim's
    ``shear(q=, beta=)``) give ``χ = (1 - q²)/(1 + q²)``, ``(e1, e2) = χ (cos 2β, sin 2β)``.
    """
    row = blend[0]
    disk = row["fluxnorm_disk"] >= row["fluxnorm_bulge"]
    a, b, pa = (row["a_d"], row["b_d"], row["pa_disk"]) if disk else (row["a_b"], row["b_b"], row["pa_bulge"])
    q = b / a if a > 0 else 1.0
    chi = (1 - q**2) / (1 + q**2)
    beta = np.deg2rad(pa)
    return np.array([chi * np.cos(2 * beta), chi * np.sin(2 * beta)])


def draw_chunk(catalogue: Table, survey: str, split: str, chunk: int, seed: int, settings: BlendSettings, survey_obj=None) -> dict[str, np.ndarray]:
    """Draw the ``chunk_size`` blends of one chunk with BTK's ``CatsimGenerator``.

    Returns:
        A dict of arrays with first axis ``chunk_size``: ``blend``, ``isolated``, ``clean``
        (``(N, B, H, W)``, electrons), ``e_moments``, ``e_catalogue`` (``(N, 2)``),
        ``n_sources`` (``(N,)``), ``magnitude`` (``mag_band`` of the centre galaxy),
        ``redshift`` (of the centre galaxy).
    """
    survey_obj = survey_obj if survey_obj is not None else get_survey(survey)
    if survey == "des" and "Y_ab" not in catalogue.colnames:
        catalogue = add_des_y_band(catalogue)
    seq = chunk_seed(seed, survey, split, chunk)
    sampling_seed, btk_seed = (int(s) for s in seq.generate_state(2) % np.uint32(2**31 - 1))
    noise_rng = np.random.default_rng(seq.spawn(1)[0])
    stamp = stamp_size_arcsec(survey_obj, settings.stamp_pixels)
    mag_name = f"{settings.mag_band}_ab"
    sampling = BrightestCentredSampling(
        stamp_size=stamp,
        max_number=settings.max_galaxies,
        min_number=settings.min_galaxies,
        max_shift=settings.max_shift,
        seed=sampling_seed,
        max_mag=settings.max_mag,
        mag_name=mag_name,
        random_rotation=settings.random_rotation,
    )
    generator = btk.draw_blends.CatsimGenerator(
        btk.catalog.CatsimCatalog(catalogue),
        sampling,
        survey_obj,
        batch_size=settings.chunk_size,
        njobs=1,
        add_noise="all",
        seed=btk_seed,
    )
    batch = next(generator)
    clean = np.asarray(batch.isolated_images[:, 0], dtype=np.float64)
    if clean.shape[-1] != settings.stamp_pixels:
        raise RuntimeError(f"BTK drew {clean.shape[-1]}-pixel stamps, expected {settings.stamp_pixels}")
    isolated = add_btk_noise(clean, sky_levels(survey_obj), noise_rng)
    band_index = list(survey_obj.available_filters).index(survey_band_name(survey_obj, settings.ellipticity_band))
    return {
        "blend": np.asarray(batch.blend_images, dtype=np.float32),
        "isolated": isolated.astype(np.float32),
        "clean": clean.astype(np.float32),
        "e_moments": moment_ellipticity(clean[:, band_index]).astype(np.float32),
        "e_catalogue": np.stack([catalogue_ellipticity(t) for t in batch.catalog_list]).astype(np.float32),
        "n_sources": np.array([len(t) for t in batch.catalog_list], dtype=np.int16),
        "magnitude": np.array([t[mag_name][0] for t in batch.catalog_list], dtype=np.float32),
        "redshift": np.array([t["redshift"][0] for t in batch.catalog_list], dtype=np.float32),
    }


def shard_chunks(n_blends: int, chunk_size: int, n_shards: int, shard: int) -> np.ndarray:
    """Indices of the chunks shard ``shard`` of ``n_shards`` draws (contiguous ranges)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} outside 0..{n_shards - 1}")
    n_chunks = -(-n_blends // chunk_size)
    return np.array_split(np.arange(n_chunks), n_shards)[shard]


def draw_shard(catalogue: Table, survey: str, split: str, n_blends: int, n_shards: int, shard: int, seed: int, settings: BlendSettings, progress: bool = True) -> dict[str, np.ndarray]:
    """All blends of one shard: its chunks, the last one cut at ``n_blends``, then the e-cut.

    Returns the arrays of :func:`draw_chunk` plus ``index`` (global blend index in the split).
    """
    from galprior.progress import progress_bar

    survey_obj = get_survey(survey)
    if survey == "des":
        catalogue = add_des_y_band(catalogue)
    parts = []
    for chunk in progress_bar(shard_chunks(n_blends, settings.chunk_size, n_shards, shard), desc=f"{survey} {split} shard {shard}", disable=not progress):
        arrays = draw_chunk(catalogue, survey, split, int(chunk), seed, settings, survey_obj)
        arrays["index"] = np.arange(chunk * settings.chunk_size, (chunk + 1) * settings.chunk_size, dtype=np.int64)
        keep = arrays["index"] < n_blends
        parts.append({k: v[keep] for k, v in arrays.items()})
    if not parts:
        logger.warning("shard %d of %d has no chunk (%d blends in chunks of %d): empty", shard, n_shards, n_blends, settings.chunk_size)
        return _empty_arrays(len(survey_obj.available_filters), settings.stamp_pixels)
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if settings.min_ellipticity > 0:
        keep = np.hypot(out["e_moments"][:, 0], out["e_moments"][:, 1]) > settings.min_ellipticity
        logger.info("e > %.2f cut keeps %d of %d blends", settings.min_ellipticity, keep.sum(), len(keep))
        out = {k: v[keep] for k, v in out.items()}
    return out


def _empty_arrays(bands: int, pixels: int) -> dict[str, np.ndarray]:
    image = np.zeros((0, bands, pixels, pixels), np.float32)
    return {"blend": image, "isolated": image.copy(), "clean": image.copy(), "e_moments": np.zeros((0, 2), np.float32),
            "e_catalogue": np.zeros((0, 2), np.float32), "n_sources": np.zeros(0, np.int16), "magnitude": np.zeros(0, np.float32),
            "redshift": np.zeros(0, np.float32), "index": np.zeros(0, np.int64)}


def merge_shards(shards: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate shard arrays in blend-index order."""
    out = {k: np.concatenate([s[k] for s in shards]) for k in shards[0]}
    order = np.argsort(out["index"], kind="stable")
    return {k: v[order] for k, v in out.items()}


# --------------------------------------------------------------------------------------
# Products of the workflow: shards and merged splits as BlendSet stores
# --------------------------------------------------------------------------------------


def blend_settings(blends: dict) -> BlendSettings:
    """:class:`BlendSettings` from the config block ``nguyen.blends``."""
    keys = [f.name for f in dataclasses.fields(BlendSettings)]
    return BlendSettings(**{k: blends[k] for k in keys})


def catalogue_from_config(catalogue: dict, seed: int) -> Table:
    """The catalogue of the config block ``nguyen.catalogue``."""
    return load_catalogue(catalogue["source"], catalogue["file"], catalogue["n_galaxies"],
                          catalogue["i_mag_min"], catalogue["i_mag_max"], seed)


def prepare_blend_shard(nguyen: dict, survey: str, split: str, shard: int, seed: int, progress: bool = True) -> BlendSet:
    """One shard of a survey's split, as a :class:`~galprior.store.BlendSet` (no constants yet)."""
    settings = blend_settings(nguyen["blends"])
    catalogue = catalogue_from_config(nguyen["catalogue"], seed)
    n_blends = nguyen["blends"]["sizes"][survey][split]
    arrays = draw_shard(catalogue, survey, split, n_blends, nguyen["blends"]["n_shards"], shard, seed, settings, progress)
    survey_obj = get_survey(survey)
    attrs = {
        "survey": survey, "split": split, "bands": list(survey_obj.available_filters),
        "pixel_scale": survey_obj.pixel_scale.to_value("arcsec"), "mag_band": settings.mag_band,
        "ellipticity_band": settings.ellipticity_band, "normalisation_beta": nguyen["normalisation_beta"],
        "band_scale": None, "catalogue": nguyen["catalogue"]["source"], "shard": shard,
        "min_ellipticity": settings.min_ellipticity,
    }
    return BlendSet(**arrays, attrs=attrs)


def merge_blend_shards(train_shards: list[BlendSet], val_shards: list[BlendSet]) -> tuple[BlendSet, BlendSet]:
    """Join shards into the train and val splits; eq. 9 constants from the training blends."""
    train = BlendSet.concatenate(sorted(train_shards, key=lambda s: int(s.index[0]) if len(s) else 0))
    val = BlendSet.concatenate(sorted(val_shards, key=lambda s: int(s.index[0]) if len(s) else 0))
    scale = mean_band_maxima(train.blend).tolist()
    logger.info("%s eq. 9 constants <max>_b = %s", train.attrs["survey"], np.round(scale, 2).tolist())
    for part in (train, val):
        part.attrs.update(band_scale=scale, shard=None)
    return train, val


def _in_index_order(shards: list[StoreReader]) -> list[StoreReader]:
    """Shards sorted by their first blend index (an empty shard counts as 0)."""
    return sorted(shards, key=lambda s: int(s.read("index", slice(0, 1))[0]) if len(s) else 0)


def _copy_shards(shards: list[StoreReader], path, band_scale: list[float] | None) -> list[float]:
    """Write the blends of ``shards`` (in index order) to one store at ``path``, a chunk at
    a time; eq. 9 constants ``band_scale``, or (None) those of these blends. Returns them."""
    attrs = dict(shards[0].attrs)
    maxima = []
    with BlendSet.writer(path, sum(len(s) for s in shards), template=shards[0], attrs=attrs,
                         seed=attrs.get("seed")) as out:
        for shard in shards:
            for part in shard.chunks():
                blends = shard.entries(part)
                out.append(blends)
                if band_scale is None:
                    maxima.append(blends.blend.max(axis=(-2, -1)))
        if band_scale is None:
            band_scale = mean_of_maxima(np.concatenate(maxima)).tolist()
            logger.info("%s eq. 9 constants <max>_b = %s", attrs["survey"], np.round(band_scale, 2).tolist())
        out.attrs.update(band_scale=band_scale, shard=None)
    return band_scale


def merge_blend_stores(train_shards: list[StoreReader], val_shards: list[StoreReader], train_path, val_path) -> None:
    """Join shard stores (opened lazily) into the train and val stores, shard by shard.

    The stores :func:`merge_blend_shards` and ``save`` would write (the same arrays and
    attributes), without a split in memory: each shard is copied a Zarr chunk at a time
    into the temporary store, renamed into place once complete; the eq. 9 constants come
    from the per-blend band maxima gathered on the way (``N x B`` numbers).
    """
    scale = _copy_shards(_in_index_order(train_shards), train_path, None)
    _copy_shards(_in_index_order(val_shards), val_path, scale)
