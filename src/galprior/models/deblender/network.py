"""Networks of the Nguyen 2025 deblender (sec. 3.2, Figs. 9-10): β-VAE, regressor, latent flow.

- :class:`DeblenderVAE` (family ``nguyen_vae``): encoder of four 3×3 stride-2
  convolutions with 32, 64, 128, 256 filters and PReLU (45 → 23 → 12 → 6 → 3 pixels with
  padding 1), then two dense layers giving μ and log σ²; decoder mirrored: a dense layer
  and PReLU to 256 × 3 × 3, transposed convolutions 256 → 128 → 64 → 32 with PReLU
  (3 → 6 → 12 → 24), a last transposed convolution to the bands (48 pixels), a sigmoid,
  and a bilinear resize to the stamp size. The report does not state the latent
  dimension, the transposed-convolution strides/paddings or whether the last layer has
  PReLU before the sigmoid; we choose ``latent_dim`` from the config (32, Debvader's
  value) and the layout above, and start the output bias at the mean target pixel
  (:meth:`DeblenderVAE.init_output_bias`). Training 2 swaps in a fresh encoder and freezes the
  decoder; the same class holds the result.
- :class:`ColourHead` (beyond the report, issue 33; ``nguyen.vae.colour_head``): an MLP
  from μ to the galaxy's band-flux fractions, trained with :func:`colour_loss` beside
  eq. 6. The report states eq. 9, the sigmoid output and the loss of eq. 6 and is silent
  on colour. Measured: with eq. 9's ``tanh`` a bright galaxy's core is ``1 - 1e-5`` in
  every band, so its band fluxes live where the sigmoid output and the pixel MSE cannot
  resolve them, and the decoder gives every galaxy the same colour (the latent holds
  almost none: a ridge fit of μ to g - r leaves 0.30-0.34 mag against 0.35 for the median
  colour). The head therefore starts from the input's aperture colour. We keep the
  report's decoder and give the physical reconstruction its colour from the head
  (:func:`galprior.models.deblender.products.physical_images`). The head reads μ
  without sending gradients back, so the encoder and decoder train on eq. 6 alone and are
  the report's networks with or without it (a head whose loss also trained the encoder
  lowered the training-2 SSIM by 0.004); the paper preset has no head (``weight: 0``).
- :class:`EllipticityRegressor` (family ``nguyen_regressor``): dense 128, 64, 32 with
  PReLU and dropout after each, a dense layer to 2 and tanh (Fig. 10); input μ.
- :class:`LatentFlow` (family ``nguyen_latent_flow``): beyond the report (its sec. 5 asks
  for it) a masked autoregressive flow from ``zuko`` fitted to the training-1 latent means;
  latents are standardised with the training mean and std (stored as buffers).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
import zuko
from torch import Tensor, nn

from galprior.models.registry import register_model

ENCODER_FILTERS = (32, 64, 128, 256)


def _conv_size(size: int, n: int) -> int:
    for _ in range(n):
        size = (size + 2 - 3) // 2 + 1
    return size


class Encoder(nn.Module):
    """Four 3×3 stride-2 convolutions with PReLU, then dense μ and log σ² (sec. 3.2)."""

    def __init__(self, in_bands: int, stamp_pixels: int, latent_dim: int):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_bands
        for filters in ENCODER_FILTERS:
            layers += [nn.Conv2d(channels, filters, 3, stride=2, padding=1), nn.PReLU(filters)]
            channels = filters
        self.features = nn.Sequential(*layers, nn.Flatten())
        side = _conv_size(stamp_pixels, len(ENCODER_FILTERS))
        self.mu = nn.Linear(channels * side * side, latent_dim)
        self.log_var = nn.Linear(channels * side * side, latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.features(x)
        return self.mu(h), self.log_var(h)


class Decoder(nn.Module):
    """Mirror of :class:`Encoder`: dense, transposed convolutions with PReLU, sigmoid, resize."""

    def __init__(self, out_bands: int, stamp_pixels: int, latent_dim: int):
        super().__init__()
        self.side = _conv_size(stamp_pixels, len(ENCODER_FILTERS))
        self.stamp_pixels = stamp_pixels
        top = ENCODER_FILTERS[-1]
        self.dense = nn.Sequential(nn.Linear(latent_dim, top * self.side * self.side), nn.PReLU())
        layers: list[nn.Module] = []
        channels = top
        for filters in reversed(ENCODER_FILTERS[:-1]):
            layers += [nn.ConvTranspose2d(channels, filters, 3, stride=2, padding=1, output_padding=1), nn.PReLU(filters)]
            channels = filters
        layers.append(nn.ConvTranspose2d(channels, out_bands, 3, stride=2, padding=1, output_padding=1))
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        h = self.dense(z).view(len(z), ENCODER_FILTERS[-1], self.side, self.side)
        out = torch.sigmoid(self.deconv(h))
        return F.interpolate(out, size=(self.stamp_pixels, self.stamp_pixels), mode="bilinear", align_corners=False)


class ColourHead(nn.Module):
    """Log band-flux shares ``log(F_b / Σ F)`` of the centre galaxy from μ and the input's
    aperture colour.

    Starts from the log shares of the input's central-aperture fluxes (``aperture``,
    physical units, :func:`galprior.metrics.deblending.aperture_fluxes`), which a neighbour
    inside the aperture contaminates, and adds a correction from μ and those shares
    (dense ``hidden``, PReLU, dense; the last layer starts at zero, so the head starts as
    plain aperture photometry), then renormalises (log-softmax).
    """

    def __init__(self, latent_dim: int, bands: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim + bands, hidden), nn.PReLU(), nn.Linear(hidden, bands))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, mu: Tensor, aperture: Tensor) -> Tensor:
        start = log_shares(aperture)
        return torch.log_softmax(start + self.net(torch.cat([mu, start], dim=-1)), dim=-1)


@register_model("nguyen_vae")
class DeblenderVAE(nn.Module):
    """β-VAE of Nguyen 2025 (eqs. 4-6): images in normalised units (eq. 9); with
    ``colour_hidden > 0`` also a :class:`ColourHead` (beyond the report)."""

    def __init__(self, bands: int, stamp_pixels: int, latent_dim: int, colour_hidden: int = 0):
        super().__init__()
        self.hyperparameters: dict[str, Any] = {"bands": bands, "stamp_pixels": stamp_pixels, "latent_dim": latent_dim,
                                                "colour_hidden": colour_hidden}
        self.encoder = Encoder(bands, stamp_pixels, latent_dim)
        self.decoder = Decoder(bands, stamp_pixels, latent_dim)
        self.colour = ColourHead(latent_dim, bands, colour_hidden) if colour_hidden > 0 else None

    def band_fractions(self, mu: Tensor, aperture: Tensor) -> Tensor | None:
        """The colour head's ``F_b / Σ F`` for latents ``mu`` and the inputs' aperture
        fluxes ``aperture`` (None without a head)."""
        return None if self.colour is None else self.colour(mu, aperture).exp()

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """μ and log σ² of ``q(z | x)``."""
        return self.encoder(x)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Reconstruction from ``z = μ + σ ε`` (eq. 4), and μ, log σ²."""
        mu, log_var = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype) if generator is not None else torch.randn_like(mu)
        z = mu + torch.exp(0.5 * log_var) * eps
        return self.decode(z), mu, log_var

    def init_output_bias(self, mean_target: float) -> None:
        """Start the sigmoid output at the targets' mean pixel value (our choice; the report is silent).

        Normalised galaxy stamps are mostly empty sky (mean pixel ~0.02); from the default
        output of 0.5 the first Adam steps drive the sigmoid into saturation at 0, where its
        gradient vanishes and training stalls on the all-zero image (seen on the quick default).
        """
        p = min(max(float(mean_target), 1e-4), 0.5)
        with torch.no_grad():
            self.decoder.deconv[-1].bias.fill_(float(torch.logit(torch.tensor(p))))

    def freeze_decoder(self) -> None:
        """Training 2: keep the decoder of training 1 fixed (a colour head stays trainable)."""
        for p in self.decoder.parameters():
            p.requires_grad_(False)


def kl_divergence(mu: Tensor, log_var: Tensor) -> Tensor:
    """Eq. 5: ``½ Σ (μ² + σ² - log σ² - 1)`` per image, nats."""
    return 0.5 * (mu.pow(2) + log_var.exp() - log_var - 1.0).sum(dim=-1)


def beta_vae_loss(recon: Tensor, target: Tensor, mu: Tensor, log_var: Tensor, beta: float) -> tuple[Tensor, Tensor, Tensor]:
    """Eq. 6 with eq. 3: ``‖x - x̂‖² + β KL``, per image; returns (loss, mse, kl)."""
    mse = (recon - target).pow(2).flatten(1).sum(dim=1)
    kl = kl_divergence(mu, log_var)
    return mse + beta * kl, mse, kl


MAG_PER_NAT = 2.5 / math.log(10.0)


def log_shares(fluxes: Tensor, floor: float = 1e-4) -> Tensor:
    """``log(F_b / Σ F)`` of band fluxes ``(N, B)`` (negative fluxes count as 0; shares floored at ``floor``)."""
    flux = fluxes.clamp_min(0.0)
    return (flux / flux.sum(dim=-1, keepdim=True).clamp_min(1e-30)).clamp_min(floor).log()


def colour_loss(log_fractions: Tensor, true_fluxes: Tensor, floor: float = 1e-4) -> Tensor:
    """Beyond the report: ``Σ_b (Δ m_b)²`` per image, mag², with ``Δ m_b = -2.5 log10(f̂_b / f_b)``
    the error of the band's share ``f_b = F_b / Σ F`` of the flux (``true_fluxes``: ``(N, B)``
    band fluxes of the noiseless target in physical units; shares floored at ``floor``).

    Every colour ``m_a - m_b`` is a difference of two of these, so the loss bounds the
    colour errors; a band with no light (an empty u channel) has no effect beyond its floor.
    """
    return (MAG_PER_NAT * (log_fractions - log_shares(true_fluxes, floor))).pow(2).sum(dim=-1)


@register_model("nguyen_regressor")
class EllipticityRegressor(nn.Module):
    """μ → (e1, e2): dense 128/64/32, PReLU, dropout, tanh output (Fig. 10)."""

    def __init__(self, latent_dim: int, dropout: float):
        super().__init__()
        self.hyperparameters: dict[str, Any] = {"latent_dim": latent_dim, "dropout": dropout}
        layers: list[nn.Module] = []
        width = latent_dim
        for units in (128, 64, 32):
            layers += [nn.Linear(width, units), nn.PReLU(), nn.Dropout(dropout)]
            width = units
        layers += [nn.Linear(width, 2), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, mu: Tensor) -> Tensor:
        return self.net(mu)


@register_model("nguyen_latent_flow")
class LatentFlow(nn.Module):
    """Masked autoregressive flow (zuko) for the training-1 latent means, on standardised z."""

    def __init__(self, latent_dim: int, transforms: int, hidden_features: int):
        super().__init__()
        self.hyperparameters: dict[str, Any] = {"latent_dim": latent_dim, "transforms": transforms, "hidden_features": hidden_features}
        self.flow = zuko.flows.MAF(features=latent_dim, context=0, transforms=transforms, hidden_features=(hidden_features, hidden_features))
        self.register_buffer("shift", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))

    def set_standardisation(self, z: Tensor) -> None:
        self.shift.copy_(z.mean(dim=0))
        self.scale.copy_(z.std(dim=0).clamp_min(1e-6))

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z), including the Jacobian of the standardisation."""
        u = (z - self.shift) / self.scale
        return self.flow().log_prob(u) - self.scale.log().sum()

    def sample(self, n: int) -> Tensor:
        return self.flow().sample((n,)) * self.scale + self.shift
