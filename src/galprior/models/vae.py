"""Variational autoencoder source model of Chianese et al. 2020 (MNRAS 496, 381).

What is taken from the paper (section 2 and Appendix D)
-------------------------------------------------------
- A VAE trained on 64 x 64 single-channel galaxy stamps, each normalised to a maximum
  of 1, with a 64-dimensional latent space and a standard-normal prior on ``z``.
- A Gaussian decoder likelihood ``p(x|z) = N(x | g(z), sigma_d^2 I)`` with a fixed
  ``sigma_d = 1/50``, and the ELBO (their eq. 4) as the training objective.
- A ``tanh`` output layer on the decoder.
- Adam with ``(beta1, beta2) = (0.5, 0.999)``, batches of 32, early stopping on the
  validation ELBO (see :mod:`galprior.models.training`).

What is assumed
---------------
The layer-by-layer tables D1 (encoder) and D2 (decoder) could not be retrieved while
this module was written, so the convolutional stacks below are a DCGAN-style design in
the same spirit, not a transcription of those tables:

- Encoder: ``n = log2(image_size / 4)`` convolutions with 4 x 4 kernels, stride 2,
  padding 1 (64 -> 32 -> 16 -> 8 -> 4 for 64 x 64 stamps), channel widths
  ``base_width * (1, 2, 4, 8)``, batch normalisation on every convolution except the
  first, LeakyReLU (slope ``leaky_slope``); then one linear layer to ``(mu, logvar)``.
- Decoder: the mirror image: a linear layer to ``8 * base_width`` maps of 4 x 4 with
  batch normalisation and LeakyReLU, transposed convolutions (4 x 4, stride 2,
  padding 1) halving the width at each step, and a last transposed convolution to one
  channel followed by ``tanh``.
- Weight initialisation ``weight_init="dcgan"``: convolution and linear weights drawn
  from ``N(0, 0.02^2)``, batch-norm scales from ``N(1, 0.02^2)``, biases zero (the
  DCGAN recipe that also gives the ``beta1 = 0.5`` Adam setting). ``"kaiming"`` (He
  normal for LeakyReLU) and ``"default"`` (PyTorch's) are the alternatives.
- ``base_width = 64`` is the full-size setting; the quick CPU preset scales it down.

Output range
------------
The images are used as they are (maximum 1, background around 0 with noise that can be
negative); they are not rescaled to ``[-1, 1]``. The ``tanh`` output spans ``(-1, 1)``,
so it covers the whole ``[0, 1]`` range of the galaxy light and also lets the decoder
reproduce slightly negative background pixels. Pixel values above 1 in the inputs (none
after the max-1 normalisation) could not be reproduced.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

#: Smallest feature map (pixels per side) at the bottom of the encoder.
BOTTLENECK_SIZE = 4

WEIGHT_INITS = ("dcgan", "kaiming", "default")


# --------------------------------------------------------------------------------------
# The objective: pure functions
# --------------------------------------------------------------------------------------


def gaussian_log_likelihood(x: Tensor, x_hat: Tensor, sigma: float) -> Tensor:
    """Per-sample ``log N(x | x_hat, sigma^2 I)`` with its normalisation constant.

    Sums over every axis but the first. ``sigma`` is in the image unit.
    """
    squared = (x - x_hat).pow(2).flatten(1).sum(dim=1)
    n_pixels = x[0].numel()
    return -0.5 * squared / sigma**2 - 0.5 * n_pixels * math.log(2.0 * math.pi * sigma**2)


def kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """Per-sample ``KL(N(mu, diag(exp(logvar))) || N(0, I))``, analytic."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def elbo(x: Tensor, x_hat: Tensor, mu: Tensor, logvar: Tensor, decoder_sigma: float) -> Tensor:
    """Per-sample evidence lower bound (Chianese et al. 2020, eq. 4).

    ``log p(x | z) - KL(q(z|x) || p(z))`` with ``x_hat = g(z)`` decoded from one draw
    ``z ~ q(z|x)`` (a single-sample Monte-Carlo estimate of the expected
    log-likelihood) and the KL term in closed form. Unit: nats per image.

    Args:
        x: images, shape ``(B, ...)``.
        x_hat: decoder means for a draw of ``z``, same shape as ``x``.
        mu: encoder means, shape ``(B, latent_dim)``.
        logvar: encoder log-variances, shape ``(B, latent_dim)``.
        decoder_sigma: standard deviation ``sigma_d`` of the Gaussian likelihood.

    Returns:
        Shape ``(B,)``.
    """
    return gaussian_log_likelihood(x, x_hat, decoder_sigma) - kl_to_standard_normal(mu, logvar)


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw ``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``."""
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def images_to_tensor(images: np.ndarray, image_size: int) -> Tensor:
    """``(N, H, W)`` float images as a ``(N, 1, H, W)`` float32 tensor (no copy if possible)."""
    array = np.asarray(images, dtype=np.float32)
    if array.ndim != 3 or array.shape[1:] != (image_size, image_size) or len(array) == 0:
        raise ValueError(f"expected images of shape (N>0, {image_size}, {image_size}), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("images contain NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(array)).unsqueeze(1)


# --------------------------------------------------------------------------------------
# The networks
# --------------------------------------------------------------------------------------


def number_of_downsamplings(image_size: int) -> int:
    """Stride-2 layers taking ``image_size`` down to :data:`BOTTLENECK_SIZE`."""
    ratio = image_size // BOTTLENECK_SIZE
    if image_size % BOTTLENECK_SIZE or ratio < 2 or ratio & (ratio - 1):
        raise ValueError(f"image_size must be 4 * 2**k with k >= 1 (8, 16, 32, 64, ...), got {image_size}")
    return int(math.log2(ratio))


def channel_widths(image_size: int, base_width: int) -> list[int]:
    """Encoder channel widths, ``base_width * 2**i`` for each stride-2 layer."""
    return [base_width * 2**i for i in range(number_of_downsamplings(image_size))]


def _encoder_block(in_channels: int, out_channels: int, batch_norm: bool, slope: float) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(slope))
    return layers


def _decoder_block(in_channels: int, out_channels: int, slope: float) -> list[nn.Module]:
    return [
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(slope),
    ]


def build_encoder(image_size: int, latent_dim: int, base_width: int, slope: float) -> nn.Sequential:
    """Strided convolutions ``image_size -> 4`` then a linear layer to ``2 * latent_dim``."""
    widths = channel_widths(image_size, base_width)
    layers: list[nn.Module] = []
    in_channels = 1
    for i, width in enumerate(widths):
        layers += _encoder_block(in_channels, width, batch_norm=i > 0, slope=slope)
        in_channels = width
    layers += [nn.Flatten(), nn.Linear(in_channels * BOTTLENECK_SIZE**2, 2 * latent_dim)]
    return nn.Sequential(*layers)


def build_decoder(image_size: int, latent_dim: int, base_width: int, slope: float) -> nn.Sequential:
    """Mirror of :func:`build_encoder`: linear, transposed convolutions, ``tanh``."""
    widths = channel_widths(image_size, base_width)[::-1]
    layers: list[nn.Module] = [
        nn.Linear(latent_dim, widths[0] * BOTTLENECK_SIZE**2, bias=False),
        nn.Unflatten(1, (widths[0], BOTTLENECK_SIZE, BOTTLENECK_SIZE)),
        nn.BatchNorm2d(widths[0]),
        nn.LeakyReLU(slope),
    ]
    for in_channels, out_channels in zip(widths[:-1], widths[1:]):
        layers += _decoder_block(in_channels, out_channels, slope)
    layers += [nn.ConvTranspose2d(widths[-1], 1, 4, stride=2, padding=1), nn.Tanh()]
    return nn.Sequential(*layers)


def initialise_weights(module: nn.Module, scheme: str, slope: float) -> None:
    """Initialise ``module`` in place with the named scheme (see module docstring)."""
    if scheme not in WEIGHT_INITS:
        raise ValueError(f"weight_init must be one of {WEIGHT_INITS}, got {scheme!r}")
    if scheme == "default":
        return
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if scheme == "dcgan":
                nn.init.normal_(layer.weight, 0.0, 0.02)
            else:
                nn.init.kaiming_normal_(layer.weight, a=slope, nonlinearity="leaky_relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02) if scheme == "dcgan" else nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)


class VAE(nn.Module):
    """Convolutional VAE for single-channel square galaxy stamps.

    Args:
        image_size: stamp side in pixels (4 * 2**k; 64 in the paper).
        latent_dim: dimension of ``z`` (64 in the paper).
        base_width: channels of the first encoder convolution; later layers double it.
        decoder_sigma: ``sigma_d`` of the Gaussian likelihood (image unit; 1/50).
        leaky_slope: negative slope of the LeakyReLU activations.
        weight_init: ``"dcgan"``, ``"kaiming"`` or ``"default"``.
    """

    def __init__(
        self,
        image_size: int = 64,
        latent_dim: int = 64,
        base_width: int = 64,
        decoder_sigma: float = 1.0 / 50.0,
        leaky_slope: float = 0.2,
        weight_init: str = "dcgan",
    ) -> None:
        super().__init__()
        if latent_dim < 1 or base_width < 1 or decoder_sigma <= 0:
            raise ValueError("latent_dim and base_width must be >= 1 and decoder_sigma > 0")
        self._hyperparameters: dict[str, Any] = {
            "image_size": int(image_size),
            "latent_dim": int(latent_dim),
            "base_width": int(base_width),
            "decoder_sigma": float(decoder_sigma),
            "leaky_slope": float(leaky_slope),
            "weight_init": str(weight_init),
        }
        self.encoder = build_encoder(image_size, latent_dim, base_width, leaky_slope)
        self.decoder = build_decoder(image_size, latent_dim, base_width, leaky_slope)
        initialise_weights(self, weight_init, leaky_slope)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Constructor arguments; ``VAE(**model.hyperparameters)`` rebuilds the network."""
        return dict(self._hyperparameters)

    @property
    def latent_dim(self) -> int:
        return self._hyperparameters["latent_dim"]

    @property
    def image_size(self) -> int:
        return self._hyperparameters["image_size"]

    @property
    def decoder_sigma(self) -> float:
        return self._hyperparameters["decoder_sigma"]

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Parameters of ``q(z|x)``: ``mu`` and ``logvar``, each ``(B, latent_dim)``.

        ``x`` has shape ``(B, 1, H, W)``.
        """
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """Decoder mean ``g(z)`` in ``(-1, 1)``, shape ``(B, 1, H, W)``."""
        return self.decoder(z)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Encode, draw one ``z ~ q(z|x)``, decode: ``(x_hat, mu, logvar)``."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, generator)
        return self.decode(z), mu, logvar

    def elbo(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Per-sample single-draw ELBO of images ``x`` of shape ``(B, 1, H, W)``."""
        x_hat, mu, logvar = self(x, generator)
        return elbo(x, x_hat, mu, logvar, self.decoder_sigma)
