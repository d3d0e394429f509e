"""NCSN++ for the score prior of Adam et al. 2022 (sec. 3: "the reference PyTorch
implementation of NCSN++ architecture from Song et al. [22]").

A port of ``models/ncsnpp.py`` of github.com/yang-song/score_sde_pytorch (Apache 2.0), the
reference the paper names, with every switch of that code the 256^2 VE configuration uses
(``configs/ve/celebahq_256_ncsnpp_continuous.py`` over ``configs/default_lsun_configs.py``):

* Gaussian Fourier features of log sigma(t) (``fourier_scale`` 16; the random frequencies
  are a frozen parameter, as in the reference), two dense layers with SiLU: the time
  embedding;
* BigGAN residual blocks (``ResnetBlockBigGANpp``): GroupNorm - SiLU - [resample] - 3x3 conv
  - + dense(embedding) - GroupNorm - SiLU - dropout - 3x3 conv, a 1x1 skip when the width or
  the resolution changes, the sum over sqrt(2) (``skip_rescale``); a level is left and
  entered by such a block with ``down``/``up``;
* resampling by the FIR filter [1, 3, 3, 1] (``fir``: ``upfirdn2d`` of StyleGAN2; without
  it 2x2 average pooling and nearest-neighbour upsampling);
* self-attention (``AttnBlockpp``: one head over the pixels, four channel maps) after the
  residual blocks of every resolution in ``attention_resolutions`` (NCSN++ 256^2: 16) and,
  with ``attention``, between the two middle blocks (always there in the reference);
* ``progressive_input = input_skip``: the input image, FIR-downsampled, is added by a 1x1
  conv at every level; ``progressive_output = output_skip``: every up level adds its own
  3x3-conv image to the upsampled sum, which is the output;
* the DDPM initialisation (variance scaling, fan average, uniform) with ``init_scale`` 0
  (1e-10) for the last conv of each block, of attention and of the outputs;
* eps_theta = network output and the score s_theta = eps_theta / sigma(t)
  (``scale_by_sigma``; paper sec. 2.1).

With the paper's settings (``config/presets/paper.yaml``, one input channel) the network has
65,542,023 parameters, the count of the reference code built with the same configuration
(tests/adam/test_score_model.py holds that number; 65,541,895 of them trainable).

What is not the reference: the reference maps inputs in [0, 1] to 2x - 1 when
``data.centered`` is false; we feed x as it is (our ``smith2022`` images are already in
[-1, 1]; ``unit_peak`` ones in [0, 1]). ``input_scaling`` (ours, off in the paper preset)
divides the input by sqrt(1 + sigma(t)^2) before the first convolution (the c_in of Karras
et al. 2022), so that a small network trained briefly sees inputs of order one at every t;
it reparametrises the input only and leaves eps_theta and eq. 3 as they are.

``sigma_data`` (ours, ``adam.score_model.architecture.preconditioning: edm``, the quick
default; off in the paper preset) goes further, to the preconditioning of Karras et al. 2022
(EDM, their Table 1): the network F predicts the denoised image through
D = c_skip x + c_out F(c_in x), c_skip = sigma_d^2 / (sigma^2 + sigma_d^2),
c_out = sigma sigma_d / sqrt(sigma^2 + sigma_d^2), c_in = 1 / sqrt(sigma^2 + sigma_d^2), and
eps_theta = (D - x) / sigma, so the score and the solvers are unchanged; eq. 3 is weighted by
(sigma^2 + sigma_d^2) / sigma_d^2 (:meth:`ScoreUNet.loss_weight`), EDM's weight on ||D - x||^2
written for eps. Why: with eps_theta predicted directly, the denoised image
x + sigma eps_theta carries the network's error times sigma; at sigma >> sigma_d (sigma_max
5.4 against a pixel RMS of ~0.1 in the quick default) the small network's denoiser was
measured worse than the training set's mean image (MSE 4e-3 at sigma 1, 8e-2 at 5, against
1.8e-3), the probability-flow samples kept noise at every solver and step count, and their
flux / size / ellipticity were off by KS 0.37 / 0.63 / 0.46 (``benchmarks/adam_prior_ks.py``,
docs/decisions.md). With the preconditioning the error in D is bounded by sigma_d times F's.
The quick default uses a small instance of the same network (no FIR, no progressive paths).

Why our own code and not the ``score_models`` package (PyPI, by the paper's first
author): its ``NCSNpp`` puts self-attention only between the middle blocks, not at the 16^2
level of the reference's 256^2 configuration, its ``ScoreModel`` prints on construction,
finds checkpoints by regular expressions on file names (our rules name model files
exactly) and needs ``torch-ema`` and ``h5py``. The reference itself needs a CUDA extension
(``op/upfirdn2d``); the FIR filter here is a depthwise convolution (tested against
``scipy.signal.upfirdn``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from galprior.data.score_normalisation import get_normalisation
from galprior.models.registry import register_model

from .sde import VESDE

__all__ = ["ScoreUNet", "fir_downsample", "fir_upsample", "variance_scaling_"]


# -- initialisation and resampling (reference: models/layers.py, up_or_down_sampling.py) ---------

def variance_scaling_(weight: Tensor, scale: float) -> Tensor:
    """The DDPM initialisation: uniform with variance scale / mean(fan_in, fan_out); a scale
    of 0 is taken as 1e-10 (reference ``default_init``). Axis 1 is the input, axis 0 the
    output, the other axes the receptive field."""
    scale = 1e-10 if scale == 0 else scale
    receptive = math.prod(weight.shape[2:]) if weight.ndim > 2 else 1
    fan_in, fan_out = weight.shape[1] * receptive, weight.shape[0] * receptive
    bound = math.sqrt(3.0 * scale / ((fan_in + fan_out) / 2.0))
    with torch.no_grad():
        return weight.uniform_(-bound, bound)


def _conv(in_ch: int, out_ch: int, size: int, init_scale: float = 1.0) -> nn.Conv2d:
    conv = nn.Conv2d(in_ch, out_ch, size, padding=size // 2)
    variance_scaling_(conv.weight, init_scale)
    nn.init.zeros_(conv.bias)
    return conv


def _linear(in_features: int, out_features: int) -> nn.Linear:
    layer = nn.Linear(in_features, out_features)
    variance_scaling_(layer.weight, 1.0)
    nn.init.zeros_(layer.bias)
    return layer


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(max(1, min(channels // 4, 32)), channels, eps=1e-6)


def _fir_kernel(kernel: Sequence[float], gain: float) -> Tensor:
    k = torch.as_tensor(kernel, dtype=torch.float64)
    k2 = torch.outer(k, k)
    return k2 / k2.sum() * gain


def _upfirdn(x: Tensor, kernel: Tensor, up: int, down: int, pad: tuple[int, int]) -> Tensor:
    """``upfirdn2d`` (StyleGAN2): insert up - 1 zeros after every pixel, pad, convolve each
    channel with ``kernel`` (flipped, as a convolution), keep every ``down``-th pixel."""
    b, c, h, w = x.shape
    if up > 1:
        zeros = x.new_zeros(b, c, h * up, w * up)
        zeros[..., ::up, ::up] = x
        x = zeros
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    weight = torch.flip(kernel, (0, 1)).to(x)[None, None].expand(c, 1, *kernel.shape)
    return F.conv2d(x, weight, stride=down, groups=c)


def fir_downsample(x: Tensor, kernel: Sequence[float] = (1, 3, 3, 1)) -> Tensor:
    """Halve (B, C, H, W) with the separable FIR ``kernel`` (reference ``downsample_2d``)."""
    p = len(kernel) - 2
    return _upfirdn(x, _fir_kernel(kernel, 1.0), 1, 2, ((p + 1) // 2, p // 2))


def fir_upsample(x: Tensor, kernel: Sequence[float] = (1, 3, 3, 1)) -> Tensor:
    """Double (B, C, H, W) with the separable FIR ``kernel`` (reference ``upsample_2d``)."""
    p = len(kernel) - 2
    return _upfirdn(x, _fir_kernel(kernel, 4.0), 2, 1, ((p + 1) // 2 + 1, p // 2))


def _naive_downsample(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, 2)


def _naive_upsample(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


# -- blocks (reference: models/layerspp.py) -----------------------------------------------------

class GaussianFourierProjection(nn.Module):
    """sin and cos of 2 pi x W for a scalar x and fixed random W ~ N(0, scale^2) (``embedding_size``
    frequencies, a parameter that is not trained, as in the reference)."""

    def __init__(self, embedding_size: int, scale: float):
        super().__init__()
        self.W = nn.Parameter(torch.randn(embedding_size) * scale, requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        proj = x[:, None] * self.W[None, :] * 2 * math.pi
        return torch.cat([proj.sin(), proj.cos()], dim=-1)


class ResnetBlock(nn.Module):
    """BigGAN residual block of NCSN++ (``ResnetBlockBigGANpp``), optionally halving (``down``)
    or doubling (``up``) the resolution."""

    def __init__(self, in_ch: int, out_ch: int | None, emb_dim: int, dropout: float, fir: bool,
                 fir_kernel: Sequence[float], skip_rescale: bool, init_scale: float,
                 up: bool = False, down: bool = False):
        super().__init__()
        out_ch = out_ch or in_ch
        self.GroupNorm_0 = _group_norm(in_ch)
        self.Conv_0 = _conv(in_ch, out_ch, 3)
        self.Dense_0 = _linear(emb_dim, out_ch)
        self.GroupNorm_1 = _group_norm(out_ch)
        self.Dropout_0 = nn.Dropout(dropout)
        self.Conv_1 = _conv(out_ch, out_ch, 3, init_scale)
        self.Conv_2 = _conv(in_ch, out_ch, 1) if (in_ch != out_ch or up or down) else None
        self.up, self.down, self.fir, self.fir_kernel = up, down, fir, tuple(fir_kernel)
        self.skip_rescale = skip_rescale

    def _resample(self, x: Tensor) -> Tensor:
        if self.up:
            return fir_upsample(x, self.fir_kernel) if self.fir else _naive_upsample(x)
        if self.down:
            return fir_downsample(x, self.fir_kernel) if self.fir else _naive_downsample(x)
        return x

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self._resample(F.silu(self.GroupNorm_0(x)))
        x = self._resample(x)
        h = self.Conv_0(h) + self.Dense_0(F.silu(emb))[:, :, None, None]
        h = self.Conv_1(self.Dropout_0(F.silu(self.GroupNorm_1(h))))
        if self.Conv_2 is not None:
            x = self.Conv_2(x)
        return (x + h) / math.sqrt(2.0) if self.skip_rescale else x + h


class AttentionBlock(nn.Module):
    """One-head self-attention over the pixels (``AttnBlockpp``): q, k, v and the output are
    per-pixel linear maps of the channels (the reference's NIN layers, here 1x1 convs)."""

    def __init__(self, channels: int, skip_rescale: bool, init_scale: float):
        super().__init__()
        self.GroupNorm_0 = _group_norm(channels)
        self.NIN_0, self.NIN_1, self.NIN_2 = (_conv(channels, channels, 1, 0.1) for _ in range(3))
        self.NIN_3 = _conv(channels, channels, 1, init_scale)
        self.skip_rescale = skip_rescale

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        hn = self.GroupNorm_0(x)
        q, k, v = (layer(hn).reshape(b, c, h * w).transpose(1, 2) for layer in (self.NIN_0, self.NIN_1, self.NIN_2))
        att = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(c)) v
        out = self.NIN_3(att.transpose(1, 2).reshape(b, c, h, w))
        return (x + out) / math.sqrt(2.0) if self.skip_rescale else x + out


class Combine(nn.Module):
    """``input_skip``: a 1x1 conv of the downsampled input image added to the features."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.Conv_0 = _conv(in_ch, out_ch, 1)

    def forward(self, image: Tensor, h: Tensor) -> Tensor:
        return self.Conv_0(image) + h


# -- the network ----------------------------------------------------------------------------------

@register_model("score")
class ScoreUNet(nn.Module):
    """eps_theta(x, t) and the score s_theta(x, t) = eps_theta / sigma(t) of a VE SDE (NCSN++).

    Parameters
    ----------
    image_size: side of the square images (divisible by 2^(len(channel_multipliers) - 1)).
    sigma_min, sigma_max: of the VE SDE (``sde.VESDE``); part of the model so that a saved
        model is self-contained. Unit: the prior's image unit (``normalisation``).
    base_width: channels at full resolution (NCSN++ ``nf``: 128).
    channel_multipliers: widths per resolution, relative to ``base_width`` (NCSN++ 256^2:
        1, 1, 2, 2, 2, 2, 2).
    n_res_blocks: residual blocks per resolution (NCSN++: 2).
    attention: self-attention between the two middle blocks (NCSN++: always).
    attention_resolutions: resolutions (pixels per side) with self-attention after their
        residual blocks (NCSN++ 256^2: 16).
    dropout: in the residual blocks (NCSN++ 256^2: 0).
    fourier_scale: of the Gaussian Fourier time features (NCSN++: 16).
    fir: resample with the FIR ``fir_kernel`` (NCSN++: [1, 3, 3, 1]); else average pooling and
        nearest-neighbour upsampling.
    skip_rescale: residual sums over sqrt(2) (NCSN++: true).
    progressive_input: ``input_skip`` (NCSN++) or ``none``.
    progressive_output: ``output_skip`` (NCSN++) or ``none``.
    init_scale: initial scale of the last conv of every block and output (NCSN++: 0).
    input_scaling: divide the input by sqrt(1 + sigma^2) (ours; not in NCSN++).
    sigma_data: the training images' pixel RMS for EDM's preconditioning (ours, see the
        module docstring; replaces ``input_scaling``); ``None``: eps_theta is the network's
        output (NCSN++).
    normalisation: name of the image normalisation the prior learns in
        (:mod:`galprior.data.score_normalisation`), kept with the model so that inference
        maps the data into the prior's units.
    """

    def __init__(self, image_size: int, sigma_min: float, sigma_max: float, base_width: int,
                 channel_multipliers: list[int], n_res_blocks: int, attention: bool,
                 attention_resolutions: list[int], dropout: float, fourier_scale: float, fir: bool,
                 fir_kernel: list[float], skip_rescale: bool, progressive_input: str,
                 progressive_output: str, init_scale: float, input_scaling: bool,
                 normalisation: str = "unit_peak", sigma_data: float | None = None):
        super().__init__()
        levels = len(channel_multipliers)
        if image_size % 2 ** (levels - 1):
            raise ValueError(f"image_size={image_size} is not divisible by 2^{levels - 1} "
                             f"(channel_multipliers={channel_multipliers})")
        if progressive_input not in ("none", "input_skip"):
            raise ValueError(f"progressive_input must be 'none' or 'input_skip', got {progressive_input!r}")
        if progressive_output not in ("none", "output_skip"):
            raise ValueError(f"progressive_output must be 'none' or 'output_skip', got {progressive_output!r}")
        get_normalisation(normalisation)  # refuses an unknown name
        if sigma_data is not None and (input_scaling or not sigma_data > 0):
            raise ValueError(f"EDM preconditioning (sigma_data={sigma_data}) needs sigma_data > 0 and scales the "
                             "input itself: set adam.score_model.architecture.input_scaling to false")
        self.hyperparameters = dict(
            image_size=image_size, sigma_min=sigma_min, sigma_max=sigma_max, base_width=base_width,
            channel_multipliers=list(channel_multipliers), n_res_blocks=n_res_blocks, attention=attention,
            attention_resolutions=list(attention_resolutions), dropout=dropout, fourier_scale=fourier_scale,
            fir=fir, fir_kernel=list(fir_kernel), skip_rescale=skip_rescale,
            progressive_input=progressive_input, progressive_output=progressive_output,
            init_scale=init_scale, input_scaling=input_scaling, normalisation=normalisation,
            sigma_data=sigma_data)
        self.image_size = image_size
        self.normalisation = normalisation
        self.sde = VESDE(sigma_min, sigma_max)
        self.input_scaling = input_scaling
        self.sigma_data = sigma_data
        self.fir, self.fir_kernel = fir, tuple(fir_kernel)
        self.progressive_input, self.progressive_output = progressive_input, progressive_output
        self.resolutions = [image_size // 2**i for i in range(levels)]
        self.attention_resolutions = set(attention_resolutions)
        self.n_res_blocks = n_res_blocks
        nf, emb_dim = base_width, 4 * base_width

        def block(in_ch: int, out_ch: int | None = None, **kw) -> ResnetBlock:
            return ResnetBlock(in_ch, out_ch, emb_dim, dropout, fir, fir_kernel, skip_rescale, init_scale, **kw)

        def attn(channels: int) -> AttentionBlock:
            return AttentionBlock(channels, skip_rescale, init_scale)

        # one flat list in the reference's order (its parameters line up with the reference's)
        layers: list[nn.Module] = [GaussianFourierProjection(nf, fourier_scale), _linear(2 * nf, emb_dim),
                                   _linear(emb_dim, emb_dim), _conv(1, nf, 3)]
        skips, ch = [nf], nf
        for i, mult in enumerate(channel_multipliers):
            for _ in range(n_res_blocks):
                layers.append(block(ch, nf * mult))
                ch = nf * mult
                if self.resolutions[i] in self.attention_resolutions:
                    layers.append(attn(ch))
                skips.append(ch)
            if i < levels - 1:
                layers.append(block(ch, down=True))
                if progressive_input == "input_skip":
                    layers.append(Combine(1, ch))
                skips.append(ch)
        layers += [block(ch)] + ([attn(ch)] if attention else []) + [block(ch)]
        for i, mult in reversed(list(enumerate(channel_multipliers))):
            for _ in range(n_res_blocks + 1):
                layers.append(block(ch + skips.pop(), nf * mult))
                ch = nf * mult
            if self.resolutions[i] in self.attention_resolutions:
                layers.append(attn(ch))
            if progressive_output == "output_skip":
                layers += [_group_norm(ch), _conv(ch, 1, 3, init_scale)]
            if i > 0:
                layers.append(block(ch, up=True))
        if progressive_output == "none":
            layers += [_group_norm(ch), _conv(ch, 1, 3, init_scale)]
        self.layers = nn.ModuleList(layers)

    def _downsample_image(self, image: Tensor) -> Tensor:
        return fir_downsample(image, self.fir_kernel) if self.fir else _naive_downsample(image)

    def _upsample_image(self, image: Tensor) -> Tensor:
        return fir_upsample(image, self.fir_kernel) if self.fir else _naive_upsample(image)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """eps_theta(x, t) for images x (B, H, W) and times t (B,) in [0, 1]."""
        layers = iter(self.layers)
        sigma = self.sde.sigma(t)
        emb = next(layers)(torch.log(sigma))
        emb = next(layers)(emb)
        emb = next(layers)(F.silu(emb))
        image = x[:, None]
        if self.input_scaling:
            image = image / torch.sqrt(1.0 + sigma**2)[:, None, None, None]
        elif self.sigma_data is not None:
            image = image / torch.sqrt(sigma**2 + self.sigma_data**2)[:, None, None, None]
        hs = [next(layers)(image)]
        n_levels = len(self.resolutions)
        for i in range(n_levels):
            for _ in range(self.n_res_blocks):
                h = next(layers)(hs[-1], emb)
                if self.resolutions[i] in self.attention_resolutions:
                    h = next(layers)(h)
                hs.append(h)
            if i < n_levels - 1:
                h = next(layers)(hs[-1], emb)
                if self.progressive_input == "input_skip":
                    image = self._downsample_image(image)
                    h = next(layers)(image, h)
                hs.append(h)
        h = next(layers)(hs[-1], emb)
        if self.hyperparameters["attention"]:
            h = next(layers)(h)
        h = next(layers)(h, emb)
        pyramid = None
        for i in reversed(range(n_levels)):
            for _ in range(self.n_res_blocks + 1):
                h = next(layers)(torch.cat([h, hs.pop()], dim=1), emb)
            if self.resolutions[i] in self.attention_resolutions:
                h = next(layers)(h)
            if self.progressive_output == "output_skip":
                norm = next(layers)
                out = next(layers)(F.silu(norm(h)))
                pyramid = out if pyramid is None else self._upsample_image(pyramid) + out
            if i > 0:
                h = next(layers)(h, emb)
        if self.progressive_output == "none":
            norm = next(layers)
            pyramid = next(layers)(F.silu(norm(h)))
        if self.sigma_data is None:
            return pyramid[:, 0]
        s2 = (sigma**2 + self.sigma_data**2)[:, None, None]
        return (self.sigma_data * torch.sqrt(s2) * pyramid[:, 0] - sigma[:, None, None] * x) / s2

    def loss_weight(self, sigma: Tensor) -> Tensor:
        """Weight of eq. 3's term at ``sigma`` (B,): 1 (the paper), or (sigma^2 + sigma_d^2) /
        sigma_d^2 with EDM's preconditioning (their lambda(sigma) on ||D - x||^2 written for eps)."""
        if self.sigma_data is None:
            return torch.ones_like(sigma)
        return (sigma**2 + self.sigma_data**2) / self.sigma_data**2

    def score(self, x: Tensor, t: Tensor) -> Tensor:
        """s_theta(x, t) = eps_theta(x, t) / sigma(t), same shape as x (B, H, W)."""
        return self(x, t) / self.sde.sigma(t)[:, None, None]
