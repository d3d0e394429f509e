import numpy as np
import torch

from galprior.models.vae.reconstruction import reconstruct, rotate_with_noise, rotation_reconstructions


class _Identity(torch.nn.Module):
    """Reconstructs an image as itself (z = pixels, sigma_e = 0): rotation-equivariant."""

    image_size = 16

    def encode(self, x):
        return x.flatten(1), torch.full_like(x.flatten(1), -80.0)

    def decode(self, z):
        return z.reshape(-1, 1, 16, 16)


def test_reconstruction_samples_z_from_the_encoder(tiny_vae, blobs):
    """Fig. 2: z ~ q(z|x), so two seeds differ; the encoder mean is the seedless variant."""
    a = reconstruct(tiny_vae, blobs[:5], seed=0)
    np.testing.assert_array_equal(a, reconstruct(tiny_vae, blobs[:5], seed=0))
    assert not np.array_equal(a, reconstruct(tiny_vae, blobs[:5], seed=1))
    mean = reconstruct(tiny_vae, blobs[:5], sample=False)
    assert a.shape == mean.shape == (5, 16, 16)


def test_rotation_fills_new_corners_with_the_noise_level():
    """A 45 degree turn of a constant image: corners from outside the stamp are N(0, sigma)."""
    images = np.full((200, 16, 16), 5.0, np.float32)
    out = rotate_with_noise(images, 45.0, np.full(200, 0.3), np.random.default_rng(0))
    corners = out[:, 0, 0]
    assert abs(corners.mean()) < 0.1 and abs(corners.std() - 0.3) < 0.05
    np.testing.assert_allclose(out[:, 8, 8], 5.0, atol=1e-5)  # the centre keeps its value


def test_quarter_turn_is_numpys_rot90():
    images = np.random.default_rng(1).normal(size=(2, 16, 16)).astype(np.float32)
    out = rotate_with_noise(images, 90.0, np.zeros(2), np.random.default_rng(0))
    np.testing.assert_allclose(out, np.rot90(images, 1, axes=(1, 2)), atol=1e-5)


def test_derotated_reconstruction_of_an_equivariant_model_is_the_image():
    """With an exactly equivariant 'VAE' the third row of Fig. 3 equals the image away
    from the corners (bilinear interpolation twice, so a smooth image)."""
    yy, xx = np.mgrid[:16, :16] - 7.5
    images = np.exp(-(xx**2 / 12 + yy**2 / 6) / 2)[None].astype(np.float32)
    rotated, recons, back = rotation_reconstructions(_Identity(), images, np.array([0.01]), (0, 30, 90))
    assert rotated.shape == recons.shape == back.shape == (3, 1, 16, 16)
    np.testing.assert_allclose(recons, rotated, atol=1e-4)
    inner = np.hypot(xx, yy) < 5
    for a in range(3):
        assert np.abs(back[a, 0] - images[0])[inner].max() < 0.05
    assert not np.allclose(rotated[1], rotated[0])
