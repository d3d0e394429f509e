"""Zarr stores of every intermediate: layout, checks and atomic writes.

Every array the workflow passes from one rule to the next goes through this module.
A store is a Zarr v3 group holding named arrays, optionally a ``properties`` sub-group
(a table: one 1-D array per column), and attributes with the provenance.

Layouts
-------
Symbols in shapes: ``N`` galaxies, ``S`` lens systems, ``L`` noise levels,
``H``/``W`` image height/width, ``P`` PSF size, ``M`` source-image size,
``K`` lens parameters, ``J`` source parameters.

``GalaxySet`` (``results/galaxies/<product>/<split>.zarr``; layout ``galaxy_set``):

=================  ===========  =======  ===================================================
array              shape        dtype    meaning (unit)
=================  ===========  =======  ===================================================
images             (N, H, W)    float32  observed stamps (``attrs['image_unit']``)
noiseless          (N, H, W)    float32  noiseless truth (simulated); the observed image for
                                         real data, where ``noiseless_is_truth`` is False
psf                (N, P, P)    float32  PSF at the image's pixel scale, sums to 1
noise_variance     (N,)         float32  per-pixel noise variance (image unit squared)
pixel_scale        (N,)         float32  pixel size of each stored image (arcsec)
properties/ident   (N,)         int64    source identifier (COSMOS IDENT or running index)
properties/mag     (N,)         float64  AB magnitude in ``attrs['band']``
properties/half_light_radius    float64  half-light radius (arcsec)
properties/flux_radius          float64  SExtractor-like flux radius (arcsec)
properties/redshift             float64  (photometric) redshift
=================  ===========  =======  ===================================================

``MockLensSet`` (``results/lenses/mocks.zarr``; layout ``mock_lens_set``), Chianese et
al. 2020 section 5.1:

=================  ===========  =======  ===================================================
observations       (S, L, H, W) float32  noisy lensed images, one per noise level
noiseless          (S, H, W)    float32  PSF-convolved lensed images without noise
sources            (S, M, M)    float32  source images d (denoised, max 1)
lens_parameters    (S, K)       float64  true lens parameters, names in
                                         ``attrs['lens_parameter_names']`` (arcsec, rad)
source_parameters  (S, J)       float64  intensity, scale (arcsec), x, y (arcsec)
noise_sigma        (L,)         float64  per-pixel Gaussian noise std (image unit)
snr                (S, L)       float64  S/N of each observation (Chianese eq. 24-25)
galaxy_index       (S,)         int64    row of the source galaxy in the test split
=================  ===========  =======  ===================================================

``ScoreLensSet`` (``results/lenses/score_mocks.zarr``; layout ``score_lens_set``), Adam
et al. 2022: as ``MockLensSet`` with one noise level per system:

=================  ===========  =======  ===================================================
observations       (S, H, W)    float32  noisy observations, pooled resolution
noiseless          (S, H, W)    float32  noiseless observations, pooled resolution
sources            (S, M, M)    float32  source images
lens_parameters    (S, K)       float64  true SIE + shear parameters
source_parameters  (S, J)       float64  intensity, scale (arcsec), x, y (arcsec)
noise_sigma        (S,)         float64  per-pixel Gaussian noise std (image unit)
galaxy_index       (S,)         int64    row of the source galaxy in the test split
=================  ===========  =======  ===================================================

``ReconstructionSet`` (``results/models/vae/reconstructions.zarr``; layout
``reconstruction_set``), Chianese et al. 2020 Figs. 2-3:

=================  ===========  =======  ===================================================
images             (N, H, W)    float32  test galaxies (max 1)
reconstructions    (N, H, W)    float32  decoder output at the encoder mean
rotated            (A, N, H, W) float32  rotated by ``attrs['angles'][a]`` degrees,
                                         reconstructed, rotated back
galaxy_index       (N,)         int64    row of the galaxy in the test split
=================  ===========  =======  ===================================================

``MapResultSet`` (``results/inference/map.zarr``; layout ``map_result_set``): MAP fits
of every system ``S`` and noise level ``L`` with ``R`` restarts of ``T`` steps each:
``lens_parameters`` (S, L, K), ``source_parameters`` (S, L, J), ``latents`` (S, L, D),
``theta`` (S, L, Q) whitened unconstrained coordinates, ``log_posterior`` (S, L, R),
``best_restart`` (S, L), ``loss_trace`` (S, L, R, T), ``reduced_chi2`` (S, L),
``wall_time`` (S, L) in seconds, ``model_images`` (S, L, H, W) the MAP model
observation, ``source_plane`` (S, L, G, G) the MAP source and ``source_plane_truth``
(S, G, G) the true source, both on a G x G grid of side ``attrs['source_plane_size']``
arcsec centred on the optical axis.

``PosteriorSampleSet`` (``results/inference/posterior.zarr``; layout
``posterior_sample_set``): HMC/NUTS samples of ``C`` chains of ``N`` samples of the
``P`` parameters named in ``attrs['parameter_names']`` (8 lens, 4 source, then the
latents): ``samples`` (S, L, C, N, P) float32, ``r_hat`` and ``ess`` (S, L, P),
``divergences`` (S, L, C), ``grad_evals`` (S, L, C, N) per sample, ``step_size``
(S, L, C), ``wall_time`` (S, L) in seconds. ``attrs['systems']`` lists which mock
systems were sampled.

Every store carries in its attributes: ``layout``, ``layout_version``,
``galprior_version``, ``created`` (UTC ISO time), ``seed``, ``config_hash``, ``units``
(array name -> unit) and the layout-specific keys above, and ``complete: True``, which
is written last.

Writes go to a hidden temporary sibling and are renamed into place only once every
array and attribute has been written; readers refuse a store without ``complete``.
A killed job therefore never leaves a store that looks finished, and a failed write
never touches an existing store at the target path.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import shutil
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import zarr

from galprior import __version__
from galprior.config import config_hash

logger = logging.getLogger(__name__)

LAYOUT_VERSION = 1

# Snakemake leaves a timestamp file in directory outputs; it is not part of the store.
warnings.filterwarnings("ignore", message=r".*\.snakemake_timestamp.*")


class StoreError(ValueError):
    """A store, or the data about to be written to it, does not match its layout."""


@dataclass(frozen=True)
class ArraySpec:
    """Expected shape (symbolic), dtype and unit of one array of a store."""

    name: str
    dims: tuple[str, ...]
    dtype: str
    unit: str
    description: str


def provenance(seed: int | None, config: dict[str, Any] | None) -> dict[str, Any]:
    """Provenance attributes written into every store."""
    return {
        "galprior_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "config_hash": config_hash(config) if config is not None else None,
    }


def _to_json(value: Any) -> Any:
    """Make attribute values JSON-serialisable (numpy scalars and arrays)."""
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


@dataclass
class Store:
    """Base class: a set of arrays checked against ``SPEC`` and an optional table.

    Subclasses declare ``LAYOUT`` (a name), ``SPEC`` (array specs), ``TABLE`` (column
    name -> (dtype, unit)) and ``REQUIRED_ATTRS`` (keys every instance must carry).
    """

    LAYOUT: ClassVar[str] = ""
    SPEC: ClassVar[tuple[ArraySpec, ...]] = ()
    TABLE: ClassVar[dict[str, tuple[str, str]]] = {}
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = ()

    attrs: dict[str, Any] = field(default_factory=dict, kw_only=True)

    def __post_init__(self) -> None:
        self.check()

    # -- checks -----------------------------------------------------------------------
    def check(self) -> None:
        """Check dtypes, consistent shapes, finiteness, table columns and attributes."""
        sizes: dict[str, int] = {}
        for spec in self.SPEC:
            value = getattr(self, spec.name)
            if not isinstance(value, np.ndarray):
                raise StoreError(
                    f"{self.LAYOUT}: array '{spec.name}' must be a numpy array, "
                    f"got {type(value).__name__}"
                )
            if value.dtype != np.dtype(spec.dtype):
                raise StoreError(
                    f"{self.LAYOUT}: array '{spec.name}' has dtype {value.dtype}, "
                    f"expected {spec.dtype}"
                )
            if value.ndim != len(spec.dims):
                raise StoreError(
                    f"{self.LAYOUT}: array '{spec.name}' has shape {value.shape}, "
                    f"expected {len(spec.dims)} dimensions {spec.dims}"
                )
            for dim, size in zip(spec.dims, value.shape):
                expected = sizes.setdefault(dim, size)
                if size != expected:
                    raise StoreError(
                        f"{self.LAYOUT}: array '{spec.name}' has shape {value.shape}: "
                        f"dimension {dim} is {size}, but {expected} in another array"
                    )
            if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
                bad = np.argwhere(~np.isfinite(value))[0].tolist()
                raise StoreError(
                    f"{self.LAYOUT}: array '{spec.name}' holds a non-finite value "
                    f"(first at index {bad})"
                )
        if self.TABLE:
            table = self.properties
            missing = [c for c in self.TABLE if c not in table.columns]
            if missing:
                raise StoreError(f"{self.LAYOUT}: properties table lacks columns {missing}")
            n = sizes.get("N")
            if n is not None and len(table) != n:
                raise StoreError(
                    f"{self.LAYOUT}: properties table has {len(table)} rows, "
                    f"but the arrays hold N={n}"
                )
        missing_attrs = [k for k in self.REQUIRED_ATTRS if k not in self.attrs]
        if missing_attrs:
            raise StoreError(f"{self.LAYOUT}: attributes lack keys {missing_attrs}")

    def __len__(self) -> int:
        return int(getattr(self, self.SPEC[0].name).shape[0])

    # -- I/O --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, seed: int | None = None,
             config: dict[str, Any] | None = None) -> Path:
        """Write atomically to ``path`` (a ``.zarr`` directory) with provenance."""
        self.check()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            root = zarr.open_group(str(tmp), mode="w")
            units = {}
            for spec in self.SPEC:
                value = getattr(self, spec.name)
                chunks = (min(256, value.shape[0]) or 1,) + value.shape[1:] if value.ndim else None
                arr = root.create_array(spec.name, data=value, chunks=chunks)
                arr.attrs.update({"unit": spec.unit, "description": spec.description,
                                  "dims": list(spec.dims)})
                units[spec.name] = spec.unit
            if self.TABLE:
                table = root.create_group("properties")
                for column, (dtype, unit) in self.TABLE.items():
                    col = table.create_array(
                        column, data=self.properties[column].to_numpy(dtype=dtype)
                    )
                    col.attrs["unit"] = unit
                    units[f"properties/{column}"] = unit
            attrs = {**self.attrs, **provenance(seed, config), "units": units,
                     "layout": self.LAYOUT, "layout_version": LAYOUT_VERSION}
            root.attrs.update(_to_json(attrs))
            root.attrs["complete"] = True  # written last: marks a finished store
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
                path.rename(old)
            tmp.rename(path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        logger.info("wrote %s (%s, %d entries)", path, self.LAYOUT, len(self))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike):
        """Read a store written by :meth:`save`, checking its layout and completeness."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"store {path} does not exist")
        try:
            root = zarr.open_group(str(path), mode="r")
            attrs = dict(root.attrs)
        except Exception as err:  # zarr raises several types for a broken store
            raise StoreError(f"{path} is not a readable Zarr store: {err}") from err
        if not attrs.get("complete"):
            raise StoreError(f"{path} is incomplete (no 'complete' attribute): "
                             "its writer was interrupted; rerun the rule that makes it")
        if attrs.get("layout") != cls.LAYOUT:
            raise StoreError(f"{path} has layout {attrs.get('layout')!r}, "
                             f"expected {cls.LAYOUT!r}")
        keys = set(root.array_keys())
        missing = [s.name for s in cls.SPEC if s.name not in keys]
        if missing:
            raise StoreError(f"{path} lacks arrays {missing}")
        kwargs: dict[str, Any] = {s.name: np.asarray(root[s.name][...]) for s in cls.SPEC}
        if cls.TABLE:
            table = root["properties"]
            kwargs["properties"] = pd.DataFrame(
                {c: np.asarray(table[c][...]) for c in cls.TABLE}
            )
        for key in ("complete", "layout", "layout_version", "units"):
            attrs.pop(key, None)
        try:
            return cls(**kwargs, attrs=attrs)
        except StoreError as err:
            raise StoreError(f"{path}: {err}") from err

    @classmethod
    def concatenate(cls, parts: list):
        """One instance holding the entries of ``parts`` in order (attrs of the first)."""
        if not parts:
            raise StoreError(f"{cls.LAYOUT}: nothing to concatenate")
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "attrs":
                continue
            values = [getattr(p, f.name) for p in parts]
            if isinstance(values[0], pd.DataFrame):
                kwargs[f.name] = pd.concat(values, ignore_index=True)
            else:
                kwargs[f.name] = np.concatenate(values)
        return cls(**kwargs, attrs=dict(parts[0].attrs))

    def subset(self, index: np.ndarray):
        """A new instance holding the entries ``index`` along the first axis."""
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "attrs":
                continue
            value = getattr(self, f.name)
            if isinstance(value, pd.DataFrame):
                kwargs[f.name] = value.iloc[index].reset_index(drop=True)
            else:
                kwargs[f.name] = value[index]
        return type(self)(**kwargs, attrs=dict(self.attrs))


@dataclass
class GalaxySet(Store):
    """Galaxy stamps with PSFs, noise variances and a per-galaxy property table."""

    LAYOUT: ClassVar[str] = "galaxy_set"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("images", ("N", "H", "W"), "float32", "image", "observed stamps"),
        ArraySpec("noiseless", ("N", "H", "W"), "float32", "image",
                  "noiseless truth (observed image when noiseless_is_truth is False)"),
        ArraySpec("psf", ("N", "P", "P"), "float32", "1", "PSF image, sums to 1"),
        ArraySpec("noise_variance", ("N",), "float32", "image^2",
                  "per-pixel noise variance"),
        ArraySpec("pixel_scale", ("N",), "float32", "arcsec", "pixel size"),
    )
    TABLE: ClassVar[dict[str, tuple[str, str]]] = {
        "ident": ("int64", "1"),
        "mag": ("float64", "mag (AB)"),
        "half_light_radius": ("float64", "arcsec"),
        "flux_radius": ("float64", "arcsec"),
        "redshift": ("float64", "1"),
    }
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = (
        "source", "product", "band", "image_unit", "noiseless_is_truth",
    )

    images: np.ndarray
    noiseless: np.ndarray
    psf: np.ndarray
    noise_variance: np.ndarray
    pixel_scale: np.ndarray
    properties: pd.DataFrame

    def check(self) -> None:
        super().check()
        if self.TABLE and self.properties[["mag", "flux_radius", "redshift"]].isna().any().any():
            raise StoreError(f"{self.LAYOUT}: properties mag/flux_radius/redshift hold NaN")
        if np.any(self.noise_variance < 0):
            raise StoreError(f"{self.LAYOUT}: noise_variance must be >= 0")
        if np.any(self.pixel_scale <= 0):
            raise StoreError(f"{self.LAYOUT}: pixel_scale must be > 0")


@dataclass
class MockLensSet(Store):
    """Mock strong lenses of Chianese et al. 2020 at several noise levels."""

    LAYOUT: ClassVar[str] = "mock_lens_set"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("observations", ("S", "L", "H", "W"), "float32", "image",
                  "noisy lensed images, one per noise level"),
        ArraySpec("noiseless", ("S", "H", "W"), "float32", "image",
                  "PSF-convolved lensed images without noise"),
        ArraySpec("sources", ("S", "M", "M"), "float32", "1", "source images, max 1"),
        ArraySpec("lens_parameters", ("S", "K"), "float64", "arcsec|rad|1",
                  "true lens parameters (names in attrs)"),
        ArraySpec("source_parameters", ("S", "J"), "float64", "1|arcsec",
                  "true source parameters (names in attrs)"),
        ArraySpec("noise_sigma", ("L",), "float64", "image", "per-pixel noise std"),
        ArraySpec("snr", ("S", "L"), "float64", "1", "S/N, Chianese eq. 24-25"),
        ArraySpec("galaxy_index", ("S",), "int64", "1", "row in the test galaxy split"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = (
        "lens_parameter_names", "source_parameter_names", "pixel_scale", "psf_sigma",
    )

    observations: np.ndarray
    noiseless: np.ndarray
    sources: np.ndarray
    lens_parameters: np.ndarray
    source_parameters: np.ndarray
    noise_sigma: np.ndarray
    snr: np.ndarray
    galaxy_index: np.ndarray


@dataclass
class ScoreLensSet(Store):
    """Mock SIE + shear lenses of Adam et al. 2022, one noise level per system."""

    LAYOUT: ClassVar[str] = "score_lens_set"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("observations", ("S", "H", "W"), "float32", "image",
                  "noisy observations at the pooled resolution"),
        ArraySpec("noiseless", ("S", "H", "W"), "float32", "image",
                  "noiseless observations at the pooled resolution"),
        ArraySpec("sources", ("S", "M", "M"), "float32", "1", "source images"),
        ArraySpec("lens_parameters", ("S", "K"), "float64", "arcsec|rad|1",
                  "true lens parameters (names in attrs)"),
        ArraySpec("source_parameters", ("S", "J"), "float64", "1|arcsec",
                  "true source parameters (names in attrs)"),
        ArraySpec("noise_sigma", ("S",), "float64", "image", "per-pixel noise std"),
        ArraySpec("galaxy_index", ("S",), "int64", "1", "row in the test galaxy split"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = (
        "lens_parameter_names", "source_parameter_names", "pixel_scale",
        "render_pixel_scale", "pool_factor",
    )

    observations: np.ndarray
    noiseless: np.ndarray
    sources: np.ndarray
    lens_parameters: np.ndarray
    source_parameters: np.ndarray
    noise_sigma: np.ndarray
    galaxy_index: np.ndarray


@dataclass
class ReconstructionSet(Store):
    """VAE reconstructions of test galaxies, plain and rotated (Chianese Figs. 2-3)."""

    LAYOUT: ClassVar[str] = "reconstruction_set"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("images", ("N", "H", "W"), "float32", "image", "test galaxies"),
        ArraySpec("reconstructions", ("N", "H", "W"), "float32", "image",
                  "decoder output at the encoder mean"),
        ArraySpec("rotated", ("A", "N", "H", "W"), "float32", "image",
                  "rotate by attrs['angles'][a], reconstruct, rotate back"),
        ArraySpec("galaxy_index", ("N",), "int64", "1", "row in the test galaxy split"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = ("angles",)

    images: np.ndarray
    reconstructions: np.ndarray
    rotated: np.ndarray
    galaxy_index: np.ndarray


@dataclass
class MapResultSet(Store):
    """MAP fits (best restart) of every system and noise level, with all restarts' scores."""

    LAYOUT: ClassVar[str] = "map_result_set"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("lens_parameters", ("S", "L", "K"), "float64", "arcsec|rad|1",
                  "MAP lens parameters (names in attrs)"),
        ArraySpec("source_parameters", ("S", "L", "J"), "float64", "1|arcsec",
                  "MAP source parameters (names in attrs)"),
        ArraySpec("latents", ("S", "L", "D"), "float64", "1", "MAP latent vector z"),
        ArraySpec("theta", ("S", "L", "Q"), "float64", "1",
                  "MAP in whitened unconstrained coordinates (HMC start)"),
        ArraySpec("log_posterior", ("S", "L", "R"), "float64", "1",
                  "final log posterior of every restart (up to a constant)"),
        ArraySpec("best_restart", ("S", "L"), "int64", "1", "index of the kept restart"),
        ArraySpec("loss_trace", ("S", "L", "R", "T"), "float32", "1",
                  "negative log posterior along the optimisation"),
        ArraySpec("reduced_chi2", ("S", "L"), "float64", "1", "reduced chi^2 of the MAP image"),
        ArraySpec("wall_time", ("S", "L"), "float64", "s", "fit time per system"),
        ArraySpec("model_images", ("S", "L", "H", "W"), "float32", "image",
                  "noise-free model observation at the MAP"),
        ArraySpec("source_plane", ("S", "L", "G", "G"), "float32", "image",
                  "MAP source on the source-plane grid of attrs['source_plane_size']"),
        ArraySpec("source_plane_truth", ("S", "G", "G"), "float32", "image",
                  "true source on the same source-plane grid"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = (
        "lens_parameter_names", "source_parameter_names", "map_config", "noise_sigma",
    )

    lens_parameters: np.ndarray
    source_parameters: np.ndarray
    latents: np.ndarray
    theta: np.ndarray
    log_posterior: np.ndarray
    best_restart: np.ndarray
    loss_trace: np.ndarray
    reduced_chi2: np.ndarray
    wall_time: np.ndarray
    model_images: np.ndarray
    source_plane: np.ndarray
    source_plane_truth: np.ndarray


@dataclass
class PosteriorSampleSet(Store):
    """NUTS/HMC posterior samples of every system and noise level, with diagnostics."""

    LAYOUT: ClassVar[str] = "posterior_sample_set"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("samples", ("S", "L", "C", "N", "P"), "float32", "arcsec|rad|1",
                  "posterior samples, parameters in attrs['parameter_names']"),
        ArraySpec("r_hat", ("S", "L", "P"), "float64", "1", "split Gelman-Rubin R-hat"),
        ArraySpec("ess", ("S", "L", "P"), "float64", "1", "effective sample size (all chains)"),
        ArraySpec("divergences", ("S", "L", "C"), "int64", "1", "divergent transitions after warm-up"),
        ArraySpec("grad_evals", ("S", "L", "C", "N"), "int64", "1",
                  "log-density gradient evaluations per sample"),
        ArraySpec("step_size", ("S", "L", "C"), "float64", "1", "adapted leapfrog step size"),
        ArraySpec("wall_time", ("S", "L"), "float64", "s", "sampling time incl. the Hessian"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = ("parameter_names", "hmc_config", "noise_sigma")

    samples: np.ndarray
    r_hat: np.ndarray
    ess: np.ndarray
    divergences: np.ndarray
    grad_evals: np.ndarray
    step_size: np.ndarray
    wall_time: np.ndarray
