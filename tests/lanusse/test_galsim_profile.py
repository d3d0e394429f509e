"""The trained model as GalSim profiles: faithful images, batched calls, GalSim operations."""

import galsim
import numpy as np
import pytest
import torch

from galprior.models.flowvae import FlowVAE, LatentFlow
from galprior.models.flowvae.galsim_profile import (METADATA_FILE, GenerativeGalaxyModel,
                                                    model_metadata)
from galprior.models.registry import save_model
from galprior.store import atomic_json_save

SCALE = 0.03


class GaussianDecoderVAE(FlowVAE):
    """A FlowVAE whose decoder draws an elliptical Gaussian set by z (for exact checks)."""

    calls = 0

    def decode(self, z):
        type(self).calls += 1
        n = self.image_size
        y, x = torch.meshgrid(torch.arange(n) - n / 2 + 0.5, torch.arange(n) - n / 2 + 0.5,
                              indexing="ij")
        sigma = 2.5 + 1.5 * torch.sigmoid(z[:, 0])[:, None, None]
        q = 0.5 + 0.4 * torch.sigmoid(z[:, 1])[:, None, None]
        r2 = (x / sigma) ** 2 + (y / (q * sigma)) ** 2
        return 0.05 * torch.exp(-0.5 * r2)


def _model(tiny_architecture, size=32):
    torch.manual_seed(0)
    vae = GaussianDecoderVAE(image_size=size, **tiny_architecture)
    flow = LatentFlow(latent_dim=tiny_architecture["latent_dim"], n_conditions=3,
                      n_transforms=2, hidden_features=8, seed=0)
    return GenerativeGalaxyModel(vae, flow, SCALE)


CATALOGUE = {"mag": [22.0, 23.0, 24.0, 25.0], "half_light_radius": [0.4, 0.3, 0.2, 0.1],
             "redshift": [0.3, 0.6, 0.9, 1.2]}


def test_drawn_profile_matches_the_network_image(tiny_architecture):
    model = _model(tiny_architecture)
    images = model.light_profiles(CATALOGUE, seed=3)
    profiles = model.to_profiles(images)
    for image, profile in zip(images, profiles):
        drawn = profile.drawImage(nx=32, ny=32, scale=SCALE, method="no_pixel").array
        assert drawn.sum() == pytest.approx(image.sum(), rel=1e-4)
        assert profile.flux == pytest.approx(image.sum(), rel=1e-6)
        ours = galsim.hsm.FindAdaptiveMom(galsim.Image(drawn, scale=SCALE))
        net = galsim.hsm.FindAdaptiveMom(galsim.Image(image.astype(np.float64), scale=SCALE))
        assert ours.moments_sigma == pytest.approx(net.moments_sigma, rel=1e-3)
        assert ours.observed_shape.g1 == pytest.approx(net.observed_shape.g1, abs=1e-3)
        assert ours.observed_shape.g2 == pytest.approx(net.observed_shape.g2, abs=1e-3)


def test_profiles_shear_dilate_and_convolve_like_galsim_objects(tiny_architecture):
    profile = _model(tiny_architecture).sample(CATALOGUE, seed=1)[0]
    base = galsim.hsm.FindAdaptiveMom(profile.drawImage(nx=64, ny=64, scale=SCALE))
    dilated = galsim.hsm.FindAdaptiveMom(profile.dilate(1.5).drawImage(nx=64, ny=64, scale=SCALE))
    assert dilated.moments_sigma == pytest.approx(1.5 * base.moments_sigma, rel=0.03)
    sheared = profile.shear(g1=0.2).drawImage(nx=64, ny=64, scale=SCALE)
    g1 = galsim.hsm.FindAdaptiveMom(sheared).observed_shape.g1
    assert g1 > base.observed_shape.g1 + 0.1
    convolved = galsim.Convolve(profile, galsim.Gaussian(fwhm=0.1)).drawImage(
        nx=64, ny=64, scale=SCALE)
    assert convolved.array.sum() == pytest.approx(profile.flux, rel=1e-3)


def test_one_network_call_for_many_galaxies(tiny_architecture):
    model = _model(tiny_architecture)
    GaussianDecoderVAE.calls = 0
    catalogue = {k: np.repeat(v, 25) for k, v in CATALOGUE.items()}
    assert len(model.sample(catalogue, seed=0)) == 100
    assert GaussianDecoderVAE.calls == 1


def test_missing_condition_is_named(tiny_architecture):
    with pytest.raises(KeyError, match="redshift"):
        _model(tiny_architecture).sample({"mag": [22.0], "half_light_radius": [0.3]})


def test_load_by_name_from_a_model_folder(tmp_path, tiny_architecture):
    torch.manual_seed(0)
    vae = FlowVAE(image_size=32, **tiny_architecture)
    flow = LatentFlow(latent_dim=tiny_architecture["latent_dim"], n_conditions=3,
                      n_transforms=2, hidden_features=8, seed=0)
    folder = tmp_path / "models" / "mygalaxies"
    save_model(vae, folder / "flowvae")
    save_model(flow, folder / "latent_flow")
    atomic_json_save(model_metadata(SCALE, "e-/s"), folder / METADATA_FILE)
    model = GenerativeGalaxyModel.load("mygalaxies", directory=tmp_path / "models")
    assert model.pixel_scale == SCALE and model.conditions == ("mag", "half_light_radius",
                                                               "redshift")
    np.testing.assert_allclose(model.light_profiles(CATALOGUE, seed=2),
                               GenerativeGalaxyModel(vae, flow, SCALE).light_profiles(CATALOGUE, 2))
    with pytest.raises(FileNotFoundError, match="no generative galaxy model 'other'"):
        GenerativeGalaxyModel.load("other", directory=tmp_path / "models")
