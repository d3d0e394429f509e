"""Time-conditioned U-Net in the NCSN++ style for the score prior (Adam et al. 2022 sec. 3).

The paper uses the reference NCSN++ of Song et al. 2021 (256^2 images, ~65 M weights,
four V100s for 70 h). This is a small network with the same ingredients, written here so
that the quick default trains in a minute or two on two CPU cores:

* Gaussian Fourier features of log sigma(t) (NCSN++ for the VE SDE, ``fourier_scale`` 16),
  two dense layers with SiLU giving the time embedding;
* BigGAN-style residual blocks (GroupNorm - SiLU - 3x3 conv - + dense(time) - GroupNorm -
  SiLU - dropout - 3x3 conv, 1x1 skip when the width changes), outputs rescaled by
  1/sqrt(2) (NCSN++'s ``skip_rescale``);
* ``n_res_blocks`` blocks per resolution, down by 2x2 average pooling and up by nearest
  upsampling + conv, U-Net skips concatenated; optional self-attention at the lowest
  resolution (NCSN++ has it at 16^2);
* the score is s_theta(x, t) = eps_theta(x, t) / sigma(t) (paper sec. 2.1, NCSN++'s
  ``scale_by_sigma``).

Our one departure, said here: the input is divided by sqrt(1 + sigma(t)^2) before the
first convolution (the c_in of Karras et al. 2022), so the network sees inputs of order
one at every t; the reference NCSN++ feeds x unscaled. It only reparametrises the input
and leaves eps_theta and eq. 3 as they are; small networks trained briefly fit far better
with it.

Why our own code and not the ``score_models`` package (PyPI, by the paper's first
author): its ``ScoreModel`` prints on construction, finds checkpoints in a folder by
regular expressions on file names (our rules name model files exactly), trains in one
loop that mixes checkpointing and logging, and needs ``torch-ema`` and ``h5py``; its NCSN++
needs ``upfirdn2d`` FIR resampling layers that cost CPU time for no benefit at 32^2.
The VE SDE, the DSM loss and EMA are a few lines each, kept here with our interfaces.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
import torch.nn.functional as F

from galprior.models.registry import register_model

from .sde import VESDE

__all__ = ["ScoreUNet"]


def _groups(channels: int) -> int:
    return min(8, channels // 4) if channels >= 4 else 1


class GaussianFourierProjection(nn.Module):
    """Random Fourier features of a scalar (fixed weights, NCSN++ ``fourier_scale``)."""

    def __init__(self, dim: int, scale: float):
        super().__init__()
        self.register_buffer("weight", torch.randn(dim // 2) * scale)

    def forward(self, x: Tensor) -> Tensor:
        proj = x[:, None] * self.weight[None] * 2 * math.pi
        return torch.cat([proj.sin(), proj.cos()], dim=-1)


class ResnetBlock(nn.Module):
    """BigGAN-style residual block with a time-embedding bias, output / sqrt(2)."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(in_ch), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(_groups(out_ch), out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.skip(x) + h) / math.sqrt(2.0)


class AttentionBlock(nn.Module):
    """Single-head self-attention over pixels (NCSN++ ``AttnBlockpp``), output / sqrt(2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        att = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return (x + self.out(att.transpose(1, 2).reshape(b, c, h, w))) / math.sqrt(2.0)


@register_model("score")
class ScoreUNet(nn.Module):
    """eps_theta(x, t) and the score s_theta(x, t) = eps_theta / sigma(t) of a VE SDE.

    Parameters
    ----------
    image_size: side of the square images (divisible by 2^(len(channel_multipliers) - 1)).
    sigma_min, sigma_max: of the VE SDE (``sde.VESDE``); part of the model so that a
        saved model is self-contained. Unit: image unit.
    base_width: channels at full resolution (NCSN++: 128).
    channel_multipliers: widths per resolution, relative to ``base_width`` (NCSN++ 256^2:
        1, 1, 2, 2, 2, 2, 2).
    n_res_blocks: residual blocks per resolution (NCSN++: 2).
    attention: self-attention at the lowest resolution.
    dropout: in the residual blocks.
    fourier_scale: of the Gaussian Fourier time features (NCSN++: 16).
    """

    def __init__(self, image_size: int, sigma_min: float, sigma_max: float, base_width: int,
                 channel_multipliers: list[int], n_res_blocks: int, attention: bool,
                 dropout: float, fourier_scale: float):
        super().__init__()
        levels = len(channel_multipliers)
        if image_size % 2 ** (levels - 1):
            raise ValueError(f"image_size={image_size} is not divisible by 2^{levels - 1} "
                             f"(channel_multipliers={channel_multipliers})")
        self.hyperparameters = dict(
            image_size=image_size, sigma_min=sigma_min, sigma_max=sigma_max, base_width=base_width,
            channel_multipliers=list(channel_multipliers), n_res_blocks=n_res_blocks,
            attention=attention, dropout=dropout, fourier_scale=fourier_scale)
        self.image_size = image_size
        self.sde = VESDE(sigma_min, sigma_max)
        emb_dim = 4 * base_width
        self.time_features = GaussianFourierProjection(base_width, fourier_scale)
        self.time_mlp = nn.Sequential(nn.Linear(base_width, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.conv_in = nn.Conv2d(1, base_width, 3, padding=1)
        widths = [base_width * m for m in channel_multipliers]
        self.down = nn.ModuleList()
        skips, ch = [base_width], base_width
        for i, width in enumerate(widths):
            for _ in range(n_res_blocks):
                self.down.append(ResnetBlock(ch, width, emb_dim, dropout))
                ch = width
                skips.append(ch)
            if i < levels - 1:
                self.down.append(nn.AvgPool2d(2))
                skips.append(ch)
        self.mid = nn.ModuleList([ResnetBlock(ch, ch, emb_dim, dropout),
                                  AttentionBlock(ch) if attention else nn.Identity(),
                                  ResnetBlock(ch, ch, emb_dim, dropout)])
        self.up = nn.ModuleList()
        for i, width in reversed(list(enumerate(widths))):
            for _ in range(n_res_blocks + 1):
                self.up.append(ResnetBlock(ch + skips.pop(), width, emb_dim, dropout))
                ch = width
            if i > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(ch, ch, 3, padding=1)))
        self.norm_out = nn.GroupNorm(_groups(ch), ch)
        self.conv_out = nn.Conv2d(ch, 1, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """eps_theta(x, t) for images x (B, H, W) and times t (B,) in [0, 1]."""
        sigma = self.sde.sigma(t)
        emb = self.time_mlp(self.time_features(torch.log(sigma)))
        h = self.conv_in((x / torch.sqrt(1.0 + sigma**2)[:, None, None])[:, None])
        hs = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResnetBlock) else layer(h)
            hs.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, emb)), emb)
        for layer in self.up:
            if isinstance(layer, ResnetBlock):
                h = layer(torch.cat([h, hs.pop()], dim=1), emb)
            else:
                h = layer(h)
        return self.conv_out(F.silu(self.norm_out(h)))[:, 0]

    def score(self, x: Tensor, t: Tensor) -> Tensor:
        """s_theta(x, t) = eps_theta(x, t) / sigma(t), same shape as x (B, H, W)."""
        return self(x, t) / self.sde.sigma(t)[:, None, None]
