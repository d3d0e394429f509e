"""The trained Flow-VAE as GalSim light profiles (the successor of GalSim-Hub, Appendix A).

``galsim_hub`` (Lanusse et al. 2021, Appendix A) wraps a TensorFlow-1 Hub module and is
no longer maintained; this class does the same for the PyTorch Flow-VAE of this
package, and draws many galaxies with one network call:

.. code-block:: python

    import galsim
    from galprior.models.flowvae.galsim_profile import GenerativeGalaxyModel

    model = GenerativeGalaxyModel.load("lanusse", directory="results/models")
    catalogue = {"mag": [22.0, 23.5, 24.5], "half_light_radius": [0.5, 0.3, 0.2],
                 "redshift": [0.5, 0.8, 1.2]}
    galaxies = model.sample(catalogue, seed=1)          # one batched network call
    psf = galsim.Gaussian(fwhm=0.1)
    image = galsim.Convolve(galaxies[0].shear(g1=0.05).dilate(1.1), psf).drawImage(
        nx=64, ny=64, scale=0.03, method="no_pixel")

A model folder ``directory/name/`` holds the VAE (``flowvae/``), the latent flow
(``latent_flow/``), each as saved by :func:`galprior.models.registry.save_model`, and
``galsim_model.json``: the pixel scale of the generated images (arcsec), the names
and units of the conditioning fields, the image unit and the PSF convention. The
profiles are noise-free and deconvolved from the training PSF, which included the
pixel response: convolve them with an effective PSF and draw with
``method='no_pixel'`` (or with a PSF without pixel and the default method).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import galsim
import numpy as np
import torch

from galprior.models.flowvae.flow import CONDITION_COLUMNS, LatentFlow
from galprior.models.flowvae.network import FlowVAE
from galprior.models.flowvae.sampling import decode_latents, sample_latents
from galprior.models.registry import load_model

METADATA_FILE = "galsim_model.json"
VAE_FOLDER = "flowvae"
FLOW_FOLDER = "latent_flow"


def model_metadata(pixel_scale: float, image_unit: str) -> dict[str, Any]:
    """The metadata written beside a trained model (``galsim_model.json``)."""
    return {"pixel_scale": float(pixel_scale), "pixel_scale_unit": "arcsec",
            "conditions": list(CONDITION_COLUMNS),
            "condition_units": {"mag": "AB mag (F814W)", "half_light_radius": "arcsec",
                                "redshift": "1"},
            "image_unit": image_unit,
            "psf": "deconvolved from the effective (pixel-including) training PSF",
            "vae": VAE_FOLDER, "flow": FLOW_FOLDER}


class GenerativeGalaxyModel:
    """A trained Flow-VAE that returns ``galsim.InterpolatedImage`` light profiles.

    Args:
        vae: the trained :class:`FlowVAE`.
        flow: its trained :class:`LatentFlow`.
        pixel_scale: pixel size of the generated images. Unit: arcsec.
        conditions: names of the conditioning fields, in the flow's order.
        batch_size: galaxies per decoder call.
        device: where the networks run.
    """

    def __init__(self, vae: FlowVAE, flow: LatentFlow, pixel_scale: float,
                 conditions: tuple[str, ...] = CONDITION_COLUMNS, batch_size: int = 256,
                 device: torch.device | str = "cpu") -> None:
        self.vae, self.flow = vae.eval(), flow.eval()
        self.pixel_scale = float(pixel_scale)
        self.conditions = tuple(conditions)
        self.batch_size = int(batch_size)
        self.device = torch.device(device)

    @classmethod
    def load(cls, name: str, directory: str | os.PathLike, **kwargs) -> "GenerativeGalaxyModel":
        """Load the model folder ``directory/name`` (see the module docstring)."""
        folder = Path(directory) / name
        meta_path = folder / METADATA_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"no generative galaxy model {name!r} in {directory}: "
                                    f"{meta_path} does not exist")
        meta = json.loads(meta_path.read_text())
        vae = load_model(folder / meta["vae"], family="flowvae")
        flow = load_model(folder / meta["flow"], family="latent_flow")
        return cls(vae, flow, meta["pixel_scale"], tuple(meta["conditions"]), **kwargs)

    def _condition_array(self, catalogue: Mapping[str, Any] | Any) -> np.ndarray:
        """``(N, C)`` array from a mapping, DataFrame or astropy Table of the condition columns."""
        missing = [c for c in self.conditions if c not in catalogue.keys()]
        if missing:
            raise KeyError(f"the catalogue lacks the conditioning field(s) {missing}; "
                           f"this model needs {list(self.conditions)}")
        return np.stack([np.asarray(catalogue[c], np.float64).reshape(-1)
                         for c in self.conditions], axis=1)

    def light_profiles(self, catalogue: Mapping[str, Any] | Any, seed: int) -> np.ndarray:
        """``(N, S, S)`` noise-free, deconvolved images, one flow and batched decoder calls."""
        conditions = self._condition_array(catalogue)
        latents = sample_latents(self.flow, conditions, seed, self.device)
        return decode_latents(self.vae, latents, self.batch_size, self.device)

    def to_profiles(self, images: np.ndarray) -> list[galsim.InterpolatedImage]:
        """GalSim profiles of ``(N, S, S)`` images at the model's pixel scale.

        The flux of each profile is the sum of its image (the image unit times pixels,
        e.g. e-/s); change it with ``withFlux`` like any GalSim profile.
        """
        return [galsim.InterpolatedImage(galsim.Image(np.asarray(image, np.float64),
                                                      scale=self.pixel_scale))
                for image in images]

    def sample(self, catalogue: Mapping[str, Any] | Any, seed: int = 0,
               ) -> list[galsim.InterpolatedImage]:
        """One light profile per catalogue row, conditioned on its fields."""
        return self.to_profiles(self.light_profiles(catalogue, seed))
