"""Variational autoencoder source model of Chianese et al. 2020 (MNRAS 496, 381).

What is taken from the paper (section 2 and Appendix D)
-------------------------------------------------------
- A VAE trained on 64 x 64 single-channel galaxy stamps, each normalised to a maximum
  of 1, with a 64-dimensional latent space and a standard-normal prior on ``z``.
- A Gaussian decoder likelihood ``p(x|z) = N(x | g(z), sigma_d^2 I)`` with a fixed
  ``sigma_d = 1/50``, and the ELBO (their eq. 4) as the training objective.
- A ``tanh`` output layer on the decoder.
- Adam with ``(beta1, beta2) = (0.5, 0.999)``, batches of 32, early stopping on the
  validation ELBO (see :mod:`galprior.models.vae.training`).

Tables D1 and D2, literally (``base_width = 64``, ``image_size = 64``, ``latent_dim = 64``)
------------------------------------------------------------------------------------------
Encoder (D1; all convolutions unbiased, LeakyReLU slope ``leaky_slope`` = 0.2)::

    Conv2d(1, 64, 4, 2, 1)                    LeakyReLU(0.2)             64 -> 32
    Conv2d(64, 128, 4, 2, 1)   BatchNorm2d(128) LeakyReLU(0.2)           32 -> 16
    Conv2d(128, 256, 4, 2, 1)  BatchNorm2d(256) LeakyReLU(0.2)           16 -> 8
    Conv2d(256, 512, 4, 2, 1)  BatchNorm2d(512) LeakyReLU(0.2)            8 -> 4
    Conv2d(512, 4096, 4, 1, 0)                  LeakyReLU(0.2)            4 -> 1
    flatten; Linear(4096, 64) -> mu_e;  Linear(4096, 64) -> Exp -> sigma_e

Decoder (D2; all transposed convolutions unbiased; z reshaped to (64, 1, 1))::

    ConvTranspose2d(64, 512, 4, 1, 0)   BatchNorm2d(512) ReLU             1 -> 4
    ConvTranspose2d(512, 256, 4, 2, 1)  BatchNorm2d(256) ReLU             4 -> 8
    ConvTranspose2d(256, 128, 4, 2, 1)  BatchNorm2d(128) ReLU             8 -> 16
    ConvTranspose2d(128, 64, 4, 2, 1)   BatchNorm2d(64)  ReLU            16 -> 32
    ConvTranspose2d(64, 1, 4, 2, 1)     Tanh                             32 -> 64

36,834,176 encoder and 3,279,744 decoder parameters at the paper's size
(``tests/models/test_vae.py`` checks every layer and both counts). Smaller presets scale
every width with ``base_width`` (widths ``base_width * (1, 2, 4, 8)`` and a
``64 * base_width``-channel last encoder convolution, the paper's 4096 at 64); other
image sizes ``4 * 2**k`` change the number of stride-2 blocks.

Where the paper is silent or ambiguous, and what we chose:

- "All weights were initialized to 0.02" (App. D): read as the DCGAN recipe the
  architecture follows (Radford et al. 2015, cited in sec. 2.1), weights from
  ``N(0, 0.02^2)``; a constant 0.02 would make every channel identical. Batch-norm
  scales from ``N(1, 0.02^2)``; the biases of the final linear layers zero (as printed).
  ``weight_init = "dcgan"`` (default), ``"kaiming"`` and ``"default"`` (PyTorch's).
- The Exp head outputs sigma_e; we return ``logvar = 2 log sigma_e`` (the same network).

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

from galprior.models.registry import register_model

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
    # drawn where the generator lives (a CPU generator also serves a model on a GPU)
    where = generator.device if generator is not None else mu.device
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=where).to(mu.device)
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
    """Encoder channel widths, ``base_width * 2**i`` for each stride-2 layer (Table D1)."""
    return [base_width * 2**i for i in range(number_of_downsamplings(image_size))]


def hidden_width(base_width: int) -> int:
    """Channels of the last encoder convolution (Table D1: 4096 at ``base_width = 64``)."""
    return 64 * base_width


def build_encoder(image_size: int, base_width: int, slope: float) -> nn.Sequential:
    """Table D1 up to the flattened ``hidden_width`` features (the two linear heads are
    separate modules of :class:`VAE`)."""
    widths = channel_widths(image_size, base_width)
    layers: list[nn.Module] = []
    in_channels = 1
    for i, width in enumerate(widths):
        layers.append(nn.Conv2d(in_channels, width, 4, stride=2, padding=1, bias=False))
        if i > 0:
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.LeakyReLU(slope))
        in_channels = width
    layers += [nn.Conv2d(in_channels, hidden_width(base_width), BOTTLENECK_SIZE, stride=1, padding=0, bias=False),
               nn.LeakyReLU(slope), nn.Flatten()]
    return nn.Sequential(*layers)


def build_decoder(image_size: int, latent_dim: int, base_width: int) -> nn.Sequential:
    """Table D2: z as (latent_dim, 1, 1), transposed convolutions with batch norm and ReLU, ``tanh``."""
    widths = channel_widths(image_size, base_width)[::-1]
    layers: list[nn.Module] = [
        nn.Unflatten(1, (latent_dim, 1, 1)),
        nn.ConvTranspose2d(latent_dim, widths[0], BOTTLENECK_SIZE, stride=1, padding=0, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(),
    ]
    for in_channels, out_channels in zip(widths[:-1], widths[1:]):
        layers += [nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
                   nn.BatchNorm2d(out_channels), nn.ReLU()]
    layers += [nn.ConvTranspose2d(widths[-1], 1, 4, stride=2, padding=1, bias=False), nn.Tanh()]
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


@register_model("vae")
class VAE(nn.Module):
    """Convolutional VAE for single-channel square galaxy stamps (Tables D1, D2).

    Args:
        image_size: stamp side in pixels (4 * 2**k; 64 in the paper).
        latent_dim: dimension of ``z`` (64 in the paper).
        base_width: channels of the first encoder convolution; later layers double it
            (paper: 64).
        decoder_sigma: ``sigma_d`` of the Gaussian likelihood (image unit; 1/50).
        leaky_slope: negative slope of the encoder's LeakyReLU activations (paper 0.2;
            the decoder uses ReLU, Table D2).
        weight_init: ``"dcgan"``, ``"kaiming"`` or ``"default"``.
    """

    def __init__(
        self,
        image_size: int,
        latent_dim: int,
        base_width: int,
        decoder_sigma: float,
        leaky_slope: float,
        weight_init: str,
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
        self.encoder = build_encoder(image_size, base_width, leaky_slope)
        self.mean_head = nn.Linear(hidden_width(base_width), latent_dim)
        self.log_sigma_head = nn.Linear(hidden_width(base_width), latent_dim)  # followed by Exp (Table D1)
        self.decoder = build_decoder(image_size, latent_dim, base_width)
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
        features = self.encoder(x)
        return self.mean_head(features), 2.0 * self.log_sigma_head(features)

    def decode(self, z: Tensor) -> Tensor:
        """Decoder mean ``g(z)`` in ``(-1, 1)``, shape ``(B, 1, H, W)``."""
        return self.decoder(z)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Encode, draw one ``z ~ q(z|x)``, decode: ``(x_hat, mu, logvar)``."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, generator)
        return self.decode(z), mu, logvar

    def elbo(self, x: Tensor, generator: torch.Generator | None = None, n_samples: int = 1) -> Tensor:
        """Per-sample ELBO of images ``x`` of shape ``(B, 1, H, W)``, with the expected
        log-likelihood averaged over ``n_samples`` draws z_j ~ q(z|x) (Chianese et al.
        2020 eq. C3, M = 10 in the paper) and the KL term in closed form."""
        mu, logvar = self.encode(x)
        m = int(n_samples)
        if m < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        z = reparameterize(mu.repeat(m, 1), logvar.repeat(m, 1), generator)
        x_hat = self.decode(z)
        log_lik = gaussian_log_likelihood(x.repeat(m, 1, 1, 1), x_hat, self.decoder_sigma)
        return log_lik.reshape(m, -1).mean(0) - kl_to_standard_normal(mu, logvar)
