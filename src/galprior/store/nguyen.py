"""Layouts of the Nguyen 2025 deblending system: blend sets and deblender evaluations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import ArraySpec, Store, StoreError

__all__ = ["BlendSet", "DeblendEvaluation", "DesCutoutSet"]


@dataclass
class BlendSet(Store):
    """BTK blends with the brightest galaxy centred: noisy blend, noisy and clean centre galaxy.

    Images are raw (electrons per pixel, BTK's units); the eq. 9 normalisation constants
    ``band_scale`` (per-band mean of the training blends' maxima) are in the attributes,
    ``null`` in a shard before the merge.
    """

    LAYOUT: ClassVar[str] = "blend_set"
    ENTRY_AXIS: ClassVar[str] = "N"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("blend", ("N", "B", "H", "W"), "float32", "electron", "noisy blend, centre galaxy plus neighbours"),
        ArraySpec("isolated", ("N", "B", "H", "W"), "float32", "electron", "noisy isolated centre galaxy"),
        ArraySpec("clean", ("N", "B", "H", "W"), "float32", "electron", "noiseless isolated centre galaxy (the target)"),
        ArraySpec("e_moments", ("N", "2"), "float32", "1", "(e1, e2) of the clean centre galaxy, unweighted moments, eqs. 12-13"),
        ArraySpec("e_catalogue", ("N", "2"), "float32", "1", "catalogue intrinsic (e1, e2) of the centre galaxy, distortion convention"),
        ArraySpec("n_sources", ("N",), "int16", "1", "galaxies in the blend"),
        ArraySpec("magnitude", ("N",), "float32", "mag (AB)", "centre galaxy magnitude in mag_band"),
        ArraySpec("redshift", ("N",), "float32", "1", "centre galaxy redshift"),
        ArraySpec("index", ("N",), "int64", "1", "blend index in its split (its seed)"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = (
        "survey", "split", "bands", "pixel_scale", "mag_band", "ellipticity_band",
        "normalisation_beta", "band_scale", "catalogue",
    )

    blend: np.ndarray
    isolated: np.ndarray
    clean: np.ndarray
    e_moments: np.ndarray
    e_catalogue: np.ndarray
    n_sources: np.ndarray
    magnitude: np.ndarray
    redshift: np.ndarray
    index: np.ndarray

    def check(self) -> None:
        super().check()
        if self.blend.shape[1] != len(self.attrs.get("bands", [])):
            raise StoreError(f"{self.LAYOUT}: {self.blend.shape[1]} bands in the arrays but attrs bands = {self.attrs.get('bands')}")
        if np.any(self.clean < 0):
            raise StoreError(f"{self.LAYOUT}: the noiseless images hold negative pixels")


@dataclass
class DeblendEvaluation(Store):
    """The deblender applied to a validation set (simulated or real): ellipticities and similarities.

    Per galaxy: truth and estimated (e1, e2) (reconstruction after training 1 and 2, the
    regressor, and decoding the flow-prior MAP and a flow-posterior draw), SSIM and cosine
    similarity against the noiseless truth (NaN for real data, which has none); band
    fluxes of the truth and of the reconstructions (colour, issue 33); the training-2
    ellipticity also measured with the reconstruction's background subtracted and with
    GalSim's HSM (the truth's too). Images are kept for the first ``M`` galaxies only
    (figures).
    """

    LAYOUT: ClassVar[str] = "deblend_evaluation"
    LAYOUT_VERSION: ClassVar[int] = 2  # 2: band fluxes, HSM and background-subtracted ellipticities
    ENTRY_AXIS: ClassVar[str] = "N"
    NAN_ALLOWED: ClassVar[tuple[str, ...]] = ("ssim_t1", "ssim_t2", "cosine_t1", "cosine_t2", "example_truth",
                                               "flux_true", "e_true_hsm", "e_recon_t2_hsm")
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("e_true", ("N", "2"), "float32", "1", "true (e1, e2): moments of the clean galaxy, or the catalogue's for real data"),
        ArraySpec("e_recon_t1", ("N", "2"), "float32", "1", "moment (e1, e2) of the training-1 reconstruction"),
        ArraySpec("e_recon_t2", ("N", "2"), "float32", "1", "moment (e1, e2) of the training-2 reconstruction"),
        ArraySpec("e_regressor", ("N", "2"), "float32", "1", "regressor (e1, e2) from the training-2 μ"),
        ArraySpec("e_flow_map", ("N", "2"), "float32", "1", "moment (e1, e2) of the decoded flow-prior MAP latent"),
        ArraySpec("e_flow_sample", ("N", "2"), "float32", "1", "moment (e1, e2) of a decoded flow-posterior draw"),
        ArraySpec("ssim_t1", ("N",), "float32", "1", "SSIM of the training-1 reconstruction, mean over bands"),
        ArraySpec("ssim_t2", ("N",), "float32", "1", "SSIM of the training-2 reconstruction, mean over bands"),
        ArraySpec("cosine_t1", ("N",), "float32", "1", "cosine similarity, training 1"),
        ArraySpec("cosine_t2", ("N",), "float32", "1", "cosine similarity, training 2"),
        ArraySpec("n_sources", ("N",), "int16", "1", "galaxies in the blend (0 when unknown)"),
        ArraySpec("flux_true", ("N", "B"), "float32", "electron", "band fluxes of the noiseless truth per network channel (NaN for real data)"),
        ArraySpec("flux_recon_t1", ("N", "B"), "float32", "electron", "band fluxes of the training-1 reconstruction, denormalised (inverse eq. 9), background subtracted"),
        ArraySpec("flux_recon_t2", ("N", "B"), "float32", "electron", "band fluxes of the training-2 reconstruction, as flux_recon_t1"),
        ArraySpec("e_true_hsm", ("N", "2"), "float32", "1", "HSM adaptive-moment (e1, e2) of the noiseless truth, distortion (NaN: failed, or real data)"),
        ArraySpec("e_recon_t2_bgsub", ("N", "2"), "float32", "1", "W = 1 moment (e1, e2) of the training-2 reconstruction less its background"),
        ArraySpec("e_recon_t2_hsm", ("N", "2"), "float32", "1", "HSM adaptive-moment (e1, e2) of the training-2 reconstruction less its background (NaN: failed)"),
        ArraySpec("example_input", ("M", "B", "H", "W"), "float32", "normalised", "network input (noisy blend), eq. 9 units"),
        ArraySpec("example_truth", ("M", "B", "H", "W"), "float32", "normalised", "noiseless truth, eq. 9 units (NaN for real data)"),
        ArraySpec("example_recon_t1", ("M", "B", "H", "W"), "float32", "normalised", "training-1 reconstruction"),
        ArraySpec("example_recon_t2", ("M", "B", "H", "W"), "float32", "normalised", "training-2 reconstruction"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = (
        "survey", "data", "network_bands", "survey_bands", "ellipticity_band", "band_scale",
        "normalisation_beta", "model_survey", "u_band",
    )

    e_true: np.ndarray
    e_recon_t1: np.ndarray
    e_recon_t2: np.ndarray
    e_regressor: np.ndarray
    e_flow_map: np.ndarray
    e_flow_sample: np.ndarray
    ssim_t1: np.ndarray
    ssim_t2: np.ndarray
    cosine_t1: np.ndarray
    cosine_t2: np.ndarray
    n_sources: np.ndarray
    flux_true: np.ndarray
    flux_recon_t1: np.ndarray
    flux_recon_t2: np.ndarray
    e_true_hsm: np.ndarray
    e_recon_t2_bgsub: np.ndarray
    e_recon_t2_hsm: np.ndarray
    example_input: np.ndarray
    example_truth: np.ndarray
    example_recon_t1: np.ndarray
    example_recon_t2: np.ndarray


@dataclass
class DesCutoutSet(Store):
    """Real DES cutouts (g r i z Y, centre crop) with im3shape ellipticities in the pixel frame."""

    LAYOUT: ClassVar[str] = "des_cutout_set"
    ENTRY_AXIS: ClassVar[str] = "N"
    SPEC: ClassVar[tuple[ArraySpec, ...]] = (
        ArraySpec("images", ("N", "B", "H", "W"), "float32", "coadd counts", "cutouts, centre crop"),
        ArraySpec("e_im3shape", ("N", "2"), "float32", "1", "im3shape (e1, e2), e2 turned into the pixel frame"),
        ArraySpec("ident", ("N",), "int64", "1", "catalogue identifier"),
    )
    REQUIRED_ATTRS: ClassVar[tuple[str, ...]] = ("bands", "catalogue", "cutouts", "snr_min")

    images: np.ndarray
    e_im3shape: np.ndarray
    ident: np.ndarray
