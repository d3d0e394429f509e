import numpy as np
import pytest
import torch

from galprior.models.reconstruction import reconstruct, rotation_reconstructions


class _Transpose(torch.nn.Module):
    """Not rotation-equivariant: reconstructs an image as its transpose."""

    image_size = 4

    def encode(self, x):
        return x.flatten(1), None

    def decode(self, z):
        return z.reshape(-1, 1, 4, 4).transpose(-1, -2)


def test_rotation_reconstructions_derotate(tiny_vae, blobs):
    out = rotation_reconstructions(tiny_vae, blobs[:5], angles=(0, 90, 180, 270))
    assert out.shape == (4, 5, 16, 16)
    np.testing.assert_array_equal(out[0], reconstruct(tiny_vae, blobs[:5]))


def test_rotation_reconstructions_against_explicit_rotation():
    images = np.arange(2 * 16, dtype=np.float32).reshape(2, 4, 4)
    out = rotation_reconstructions(_Transpose(), images, angles=(0, 90, 180, 270, 360))
    # transpose(rot90(x, k)) derotated by -k: rot90(transpose(rot90(x, k)), -k)
    for i, k in enumerate([0, 1, 2, 3, 0]):
        expected = np.rot90(np.swapaxes(np.rot90(images, k, axes=(1, 2)), 1, 2), -k, axes=(1, 2))
        np.testing.assert_array_equal(out[i], expected)
    with pytest.raises(ValueError, match="multiples of 90"):
        rotation_reconstructions(_Transpose(), images, angles=(45,))
