"""Embedded default galaxy source: COSMOS-like HST/ACS F814W galaxies drawn with GalSim.

No download is needed. Each galaxy is a de Vaucouleurs bulge plus an exponential disk
whose light is partly in star-forming knots, sheared, convolved with an HST-like PSF
and drawn at 0.03 arcsec/pixel in e-/s with Gaussian noise. The distributions are
chosen to resemble the COSMOS F814W < 25.2 sample (Leauthaud et al. 2007; Mandelbaum
et al. 2012), not fitted to it:

* **Magnitude** (AB, F814W): number counts ``dN/dm ~ 10^(0.3 m)`` on ``[20, 25.2]``
  (the faint-end slope of I-band counts is ~0.3 per mag), sampled by inverting the CDF.
  Most galaxies are therefore faint (median ~24.2).
* **Half-light radius** (arcsec, of the total pre-PSF light, circularised):
  log-normal with median ``0.3 * 10^(-0.1 (m - 25))`` (0.3" at m = 25, ~0.95" at
  m = 20: brighter galaxies are larger) and scatter 0.4 in ln r, clipped to
  [0.05, 3] arcsec. COSMOS galaxies at the 25.2 limit have median hlr ~0.3".
* **Bulge fraction** (of the total flux): Beta(1, 3) (mean 0.25; faint COSMOS galaxies
  are mostly disk dominated). Bulge half-light radius = 0.5 x disk half-light radius;
  the disk radius is solved so that the composite has the drawn half-light radius.
* **Knots**: ``galsim.RandomKnots`` carrying ``knot_fraction`` (default 0.2) of the disk
  flux, ``n_knots`` (default 50) points with the disk's half-light radius.
* **Ellipticity**: reduced shear with Gaussian components of std 0.25 (the intrinsic
  shape noise of COSMOS galaxies), |g| < 0.7, applied to bulge and disk alike (shear is
  area preserving, so the circularised half-light radius is unchanged).
* **Redshift**: Gamma(shape 2, scale ``0.48 (1 + 0.15 (m - 24))``, scale >= 0.15):
  median ~0.8 at m = 24, lower for brighter galaxies (COSMOS 25.2 photo-z median ~0.8).
* **PSF**: ``Airy(lam=814 nm, diam=2.4 m, obscuration=0.33)`` convolved with a Gaussian
  of sigma 0.025" (jitter and charge diffusion), FWHM ~0.09", and the 0.03" pixel.
* **Flux**: ``10^(-0.4 (m - 25.94))`` e-/s (ACS F814W zeropoint 25.94; it reproduces
  the ``stamp_flux`` column of the GalSim COSMOS catalogue).
* **Noise**: white Gaussian, per-pixel variance 6.8e-6 (e-/s)^2, the median
  ``NOISE_VARIANCE`` of the GalSim COSMOS example catalogue (10-90 %: 5.1e-6-7.7e-6).
* **Stamp side** (native stamps): ``2 ceil(3.5 r_obs / 0.03")`` pixels with
  ``r_obs = sqrt(hlr^2 + 0.05"^2)``, clipped to [16, 256], which mimics the
  SExtractor-sized COSMOS postage stamps (many are smaller than 64 pixels).

Randomness comes from one integer seed: batch ``b`` uses
``numpy.random.default_rng([seed, b])``, and each galaxy's GalSim deviate (knots) is
seeded from that generator, so results do not depend on how batches are consumed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache

import galsim
import numpy as np
from scipy.optimize import brentq
from scipy.special import gammainc

from galprior.data.preprocess import RawStamp

logger = logging.getLogger(__name__)

ZEROPOINT_F814W = 25.94
"""ACS F814W zeropoint. Unit: AB mag for 1 e-/s."""

PIXEL_SCALE = 0.03
"""Native ACS COSMOS pixel scale. Unit: arcsec."""

NOISE_VARIANCE = 6.8e-6
"""Default per-pixel noise variance. Unit: (e-/s)^2."""


@dataclass(frozen=True)
class GalaxyParameters:
    """Drawn parameters of one simulated galaxy.

    Attributes:
        mag: AB magnitude in F814W. Unit: mag.
        half_light_radius: half-light radius of the total, pre-PSF light. Unit: arcsec.
        bulge_fraction: bulge flux / total flux.
        g1, g2: reduced shear components of the intrinsic ellipticity.
        redshift: redshift.
        knot_seed: seed of the GalSim deviate placing the knots.
    """

    mag: float
    half_light_radius: float
    bulge_fraction: float
    g1: float
    g2: float
    redshift: float
    knot_seed: int


def flux_from_mag(mag: float | np.ndarray, zeropoint: float = ZEROPOINT_F814W):
    """Flux for an AB magnitude. Unit: e-/s."""
    return 10 ** (-0.4 * (np.asarray(mag) - zeropoint))


def mag_from_flux(flux: float | np.ndarray, zeropoint: float = ZEROPOINT_F814W):
    """AB magnitude of a flux in e-/s. Unit: mag."""
    return zeropoint - 2.5 * np.log10(flux)


def sample_magnitudes(rng: np.random.Generator, n: int, mag_min: float = 20.0,
                      mag_max: float = 25.2, slope: float = 0.3) -> np.ndarray:
    """Magnitudes with counts ``dN/dm ~ 10^(slope m)`` on [mag_min, mag_max]. Unit: mag."""
    u = rng.uniform(size=n)
    lo, hi = 10 ** (slope * mag_min), 10 ** (slope * mag_max)
    return np.log10(lo + u * (hi - lo)) / slope


def median_half_light_radius(mag: np.ndarray) -> np.ndarray:
    """Median half-light radius at magnitude ``mag``: 0.3 x 10^(-0.1 (m - 25)). Unit: arcsec."""
    return 0.3 * 10 ** (-0.1 * (np.asarray(mag) - 25.0))


def sample_parameters(rng: np.random.Generator, n: int, mag_min: float = 20.0,
                      mag_max: float = 25.2) -> list[GalaxyParameters]:
    """Draw ``n`` galaxies from the distributions of the module docstring."""
    mag = sample_magnitudes(rng, n, mag_min, mag_max)
    hlr = np.clip(median_half_light_radius(mag) * np.exp(0.4 * rng.normal(size=n)), 0.05, 3.0)
    bulge_fraction = rng.beta(1.0, 3.0, size=n)
    g = rng.normal(scale=0.25, size=(n, 2))
    norm = np.hypot(g[:, 0], g[:, 1])
    g *= np.where(norm > 0.7, 0.7 / np.maximum(norm, 1e-12), 1.0)[:, None]
    scale = np.maximum(0.48 * (1 + 0.15 * (mag - 24.0)), 0.15)
    redshift = rng.gamma(2.0, scale)
    seeds = rng.integers(1, 2**31 - 1, size=n)
    return [GalaxyParameters(float(mag[i]), float(hlr[i]), float(bulge_fraction[i]),
                             float(g[i, 0]), float(g[i, 1]), float(redshift[i]), int(seeds[i]))
            for i in range(n)]


def _sersic_b(n: float) -> float:
    """Sérsic b_n, defined by gammainc(2n, b_n) = 1/2."""
    return brentq(lambda b: gammainc(2 * n, b) - 0.5, 1e-3, 50.0)


_B1, _B4 = _sersic_b(1.0), _sersic_b(4.0)
_GAUSS_SIGMA_PER_HLR = 1 / math.sqrt(2 * math.log(2))


def enclosed_fraction(radius: float, disk_hlr: float, bulge_fraction: float,
                      knot_fraction: float, bulge_to_disk_size: float = 0.5) -> float:
    """Fraction of the total flux within ``radius`` for the circular bulge+disk+knots model.

    Bulge: de Vaucouleurs with hlr ``bulge_to_disk_size * disk_hlr``; smooth disk:
    exponential; knots: Gaussian-distributed points (``RandomKnots``) with the disk hlr.
    Unit of radii: arcsec.
    """
    bulge_hlr = bulge_to_disk_size * disk_hlr
    f_bulge = gammainc(8.0, _B4 * (radius / bulge_hlr) ** 0.25)
    f_disk = gammainc(2.0, _B1 * radius / disk_hlr)
    sigma = _GAUSS_SIGMA_PER_HLR * disk_hlr
    f_knots = 1 - math.exp(-radius**2 / (2 * sigma**2))
    disk = 1 - bulge_fraction
    return (bulge_fraction * f_bulge + disk * (1 - knot_fraction) * f_disk
            + disk * knot_fraction * f_knots)


def disk_half_light_radius(half_light_radius: float, bulge_fraction: float,
                           knot_fraction: float, bulge_to_disk_size: float = 0.5) -> float:
    """Disk half-light radius giving the composite ``half_light_radius``. Unit: arcsec."""
    def excess(disk_hlr: float) -> float:
        return enclosed_fraction(half_light_radius, disk_hlr, bulge_fraction,
                                 knot_fraction, bulge_to_disk_size) - 0.5
    return brentq(excess, 0.2 * half_light_radius, 10 * half_light_radius)


def galaxy_profile(params: GalaxyParameters, *, knot_fraction: float = 0.2,
                   n_knots: int = 50, sheared: bool = True, include_knots: bool = True,
                   zeropoint: float = ZEROPOINT_F814W) -> galsim.GSObject:
    """Pre-PSF GalSim profile (flux in e-/s, sizes in arcsec) of one galaxy.

    ``include_knots=False`` leaves out the knots (and their flux): the smooth part only.
    """
    flux = float(flux_from_mag(params.mag, zeropoint))
    disk_hlr = disk_half_light_radius(params.half_light_radius, params.bulge_fraction,
                                      knot_fraction)
    bulge = galsim.DeVaucouleurs(half_light_radius=0.5 * disk_hlr,
                                 flux=flux * params.bulge_fraction)
    disk_flux = flux * (1 - params.bulge_fraction)
    components = [bulge, galsim.Exponential(half_light_radius=disk_hlr,
                                            flux=disk_flux * (1 - knot_fraction))]
    if knot_fraction > 0 and include_knots:
        components.append(galsim.RandomKnots(n_knots, half_light_radius=disk_hlr,
                                             flux=disk_flux * knot_fraction,
                                             rng=galsim.BaseDeviate(params.knot_seed)))
    profile = galsim.Add(components)
    if sheared:
        profile = profile.shear(g1=params.g1, g2=params.g2)
    return profile


def hst_psf(pixel_scale: float = PIXEL_SCALE, jitter_sigma: float = 0.025) -> galsim.GSObject:
    """HST/ACS F814W-like effective PSF (optics, jitter, pixel), to draw with 'no_pixel'.

    Args:
        pixel_scale: pixel size. Unit: arcsec.
        jitter_sigma: Gaussian sigma for jitter and charge diffusion. Unit: arcsec.
    """
    optics = galsim.Airy(lam=814.0, diam=2.4, obscuration=0.33, scale_unit=galsim.arcsec)
    return galsim.Convolve(optics, galsim.Gaussian(sigma=jitter_sigma),
                           galsim.Pixel(pixel_scale))


def native_stamp_size(half_light_radius: float, pixel_scale: float = PIXEL_SCALE) -> int:
    """COSMOS-like postage-stamp side for a galaxy (see module docstring). Unit: pixels."""
    r_obs = math.hypot(half_light_radius, 0.05)
    return int(np.clip(2 * math.ceil(3.5 * r_obs / pixel_scale), 16, 256))


def measured_flux_radius(image: np.ndarray, pixel_scale: float, fraction: float = 0.5) -> float:
    """Radius about the stamp's geometric centre enclosing ``fraction`` of the stamp flux.

    A SExtractor-like FLUX_RADIUS of the noiseless observed light. Unit: arcsec.
    """
    ny, nx = image.shape
    y, x = np.indices(image.shape)
    r = np.hypot(y - (ny - 1) / 2, x - (nx - 1) / 2).ravel()
    order = np.argsort(r)
    cumulative = np.cumsum(image.ravel()[order])
    index = int(np.searchsorted(cumulative, fraction * cumulative[-1]))
    return float(r[order][min(index, len(r) - 1)] * pixel_scale)


def knot_positions(params: GalaxyParameters, disk_hlr: float, n_knots: int) -> np.ndarray:
    """Sheared knot positions (x, y) of ``galsim.RandomKnots`` for this galaxy. Unit: arcsec."""
    knots = galsim.RandomKnots(n_knots, half_light_radius=disk_hlr, flux=1.0,
                               rng=galsim.BaseDeviate(params.knot_seed))
    matrix = galsim.Shear(g1=params.g1, g2=params.g2).getMatrix()
    return np.asarray(knots.points) @ matrix.T


@lru_cache(maxsize=64)
def psf_kimage(psf: galsim.GSObject, m: int, dk: float) -> np.ndarray:
    """Fourier transform of ``psf`` on an (m, m) grid of spacing dk (cached). Unit: 1/arcsec."""
    return psf.drawKImage(nx=m, ny=m, scale=dk).array


def render_noiseless(params: GalaxyParameters, psf: galsim.GSObject, size: int, *,
                     pixel_scale: float = PIXEL_SCALE, knot_fraction: float = 0.2,
                     n_knots: int = 50, zeropoint: float = ZEROPOINT_F814W) -> np.ndarray:
    """Noiseless (size, size) stamp of ``Convolve(galaxy_profile(params), psf)``.

    Same light profile as :func:`galaxy_profile` (the knots are the same
    ``RandomKnots`` points), drawn as GalSim's ``method='no_pixel'`` would, but with one
    Fourier transform on a grid of 2 x size pixels: the smooth bulge+disk and the
    PSF are evaluated in Fourier space by GalSim (``drawKImage``) and the knots, point
    sources, add ``sum_k f_k exp(-i k.x_k)`` times the PSF transform. This is ~15x
    faster than ``drawImage`` with ``RandomKnots`` (whose k-values are summed per knot
    on GalSim's larger grid); the PSF transform vanishes beyond the Nyquist frequency of
    0.03" pixels (the Airy cut-off at 814 nm is 90 / arcsec < pi / 0.03"), so the
    sampling is exact up to the light beyond one stamp side from the centre (a stamp
    is ~7 observed half-light radii wide), which wraps around.
    ``psf`` must include the pixel response. Unit: e-/s per pixel.
    """
    flux = float(flux_from_mag(params.mag, zeropoint))
    disk_hlr = disk_half_light_radius(params.half_light_radius, params.bulge_fraction,
                                      knot_fraction)
    smooth = galaxy_profile(params, knot_fraction=knot_fraction, n_knots=n_knots,
                            zeropoint=zeropoint, include_knots=False)
    m = 2 * size
    dk = 2 * np.pi / (m * pixel_scale)
    k = (np.arange(m) - m // 2) * dk
    kimage = smooth.drawKImage(nx=m, ny=m, scale=dk).array
    knot_flux = flux * (1 - params.bulge_fraction) * knot_fraction
    if knot_flux > 0:
        positions = knot_positions(params, disk_hlr, n_knots)
        phase_x = np.exp(-1j * np.outer(positions[:, 0], k))  # (K, m)
        phase_y = np.exp(-1j * np.outer(positions[:, 1], k))
        kimage = kimage + (knot_flux / n_knots) * (phase_y.T @ phase_x)  # [iy, ix]
    kimage = kimage * psf_kimage(psf, m, dk)
    # GalSim's drawImage centres the profile on the stamp's true (geometric) centre,
    # half a pixel below pixel size // 2 for an even size: shift by that offset.
    offset = ((size - 1) / 2 - size // 2) * pixel_scale
    shift = np.exp(-1j * offset * k)
    kimage = kimage * np.outer(shift, shift)
    full = np.real(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kimage))))
    lo = m // 2 - size // 2
    return full[lo:lo + size, lo:lo + size]


def draw_stamp(params: GalaxyParameters, psf: galsim.GSObject, psf_image: np.ndarray,
               rng: np.random.Generator, ident: int, *, stamp_size: int | None = None,
               pixel_scale: float = PIXEL_SCALE, noise_variance: float = NOISE_VARIANCE,
               knot_fraction: float = 0.2, n_knots: int = 50) -> RawStamp:
    """Draw one simulated galaxy (noiseless and noisy) as a :class:`RawStamp`.

    Args:
        stamp_size: side in pixels; None for a COSMOS-like size from the galaxy's size.
            Fixed-size stamps also carry ``parametric``: the same galaxy without knots
            (``knot_fraction = 0``: bulge + smooth disk with the same flux, half-light
            radius, bulge fraction and shape), the analytic profile a bulge + disk fit
            would find (Lanusse et al. 2021 sec. 4.4 "parametric sample").
        noise_variance: per-pixel Gaussian noise variance. Unit: (e-/s)^2.
    """
    size = native_stamp_size(params.half_light_radius, pixel_scale) if stamp_size is None \
        else stamp_size
    noiseless = render_noiseless(params, psf, size, pixel_scale=pixel_scale,
                                 knot_fraction=knot_fraction, n_knots=n_knots)
    image = noiseless + rng.normal(scale=math.sqrt(noise_variance), size=noiseless.shape)
    parametric = None
    if stamp_size is not None:  # fixed stamps (Lanusse product): the parametric baseline
        parametric = render_noiseless(params, psf, size, pixel_scale=pixel_scale,
                                      knot_fraction=0.0, n_knots=n_knots)
    return RawStamp(ident=ident, image=image, noiseless=noiseless, psf=psf_image,
                    parametric=parametric,
                    noise_variance=noise_variance, noise_correlation=None,
                    pixel_scale=pixel_scale, mag=params.mag,
                    half_light_radius=params.half_light_radius,
                    flux_radius=measured_flux_radius(noiseless, pixel_scale),
                    redshift=params.redshift)


def simulate_batch(seed: int, batch: int, n: int, *, stamp_size: int | None = None,
                   psf_size: int = 64, pixel_scale: float = PIXEL_SCALE,
                   noise_variance: float = NOISE_VARIANCE, mag_min: float = 20.0,
                   mag_max: float = 25.2, knot_fraction: float = 0.2, n_knots: int = 50,
                   jitter_sigma: float = 0.025) -> list[RawStamp]:
    """Batch ``batch`` of ``n`` simulated galaxies, reproducible from ``(seed, batch)``.

    Identifiers run ``batch * n ... batch * n + n - 1``. ``psf_size`` is the side of
    the native PSF image (pixels).
    """
    rng = np.random.default_rng([seed, batch])
    psf = hst_psf(pixel_scale, jitter_sigma)
    psf_image = psf.drawImage(nx=psf_size, ny=psf_size, scale=pixel_scale, method="no_pixel",
                              use_true_center=False).array.astype(np.float64)
    psf_image /= psf_image.sum()
    params = sample_parameters(rng, n, mag_min, mag_max)
    return [draw_stamp(p, psf, psf_image, rng, batch * n + i, stamp_size=stamp_size,
                       pixel_scale=pixel_scale, noise_variance=noise_variance,
                       knot_fraction=knot_fraction, n_knots=n_knots)
            for i, p in enumerate(params)]
