"""Training the Flow-VAE (Lanusse et al. 2021 sec. 4.2): the VAE, then the latent flow.

Pieces (the loop, its checkpoints and its logging are the shared
:func:`galprior.models.training.train`):

- :class:`GalaxyTensors` / :func:`galaxy_tensors`: the stamps cropped to the model's
  side, the PSFs and the noise power spectra of the crops (in memory: small sets);
  :func:`galaxy_view`: the same, cropped batch by batch from a galaxy store opened
  lazily, or from :class:`GalaxyTensors`. Every loop below reads its galaxies and
  latents as :mod:`galprior.models.batches` streams: a buffered shuffle of the store's
  chunks seeded by ``(seed, epoch)`` for training (memory: a few chunks, not the set),
  in order for validation and encoding.
- :func:`dihedral_augment`: random flips and transposes of a batch (stamp, PSF and noise
  power spectrum together), an option of ours (the paper is silent on augmentation).
- :func:`sqrt_decay`: the square-root learning-rate decay of Table 1 and sec. 4.2.2,
  ``lr = base * sqrt(decay_start / max(step, decay_start))``.
- :func:`aid_strength`: the linear annealing of the two training aids (transverse
  connections, bottleneck penalty) from their initial value to 0 at
  ``anneal_fraction`` of the run (the paper: "slowly decreased during training", no
  schedule given).
- :func:`make_optimizer`: Adafactor (the paper; PyTorch's ``torch.optim.Adafactor``,
  whose step is relative to each parameter's RMS) or Adam.
- :func:`planned_passes` / :func:`planned_steps`: how long a run is. Two modes, one
  config value (``steps``): ``steps: null`` trains ``epochs`` passes over the training
  set with early stopping on the validation score (the quick default); an integer trains
  exactly that many optimiser steps with no early stopping, as the paper does (Table 1:
  125,000 iterations of the VAE; sec. 4.2.2: 50,000 of the flow). In both modes the run
  goes pass by pass (shuffled, as the data are fed now); with ``steps`` the last pass
  stops at the step count. A checkpoint (weights, optimiser, RNG states, step) is written
  after every pass, so a run killed at any step resumes from the last pass it finished
  and ends with the same weights as an uninterrupted one.
- :func:`vae_epoch` / :func:`fit_flow_vae`: one pass of the VAE loss, the whole run.
- :func:`encode_posteriors` / :func:`fit_latent_flow`: the aggregate posterior of the
  training set and the maximum-likelihood fit of the flow. Sec. 4.2.2: "we reuse the
  encoder with fixed weights to generate samples from the aggregate posterior"; so by
  default (``latents: draws``) the flow is fitted to draws ``z ~ q(z | x)`` of the frozen
  encoder, fresh ones each pass (the paper does not say how many draws; with 1,500
  training galaxies in the quick preset, fresh draws keep the flow from memorising the
  encoded means). The authors' code fed its flow the posterior means instead (its
  exported tensor2tensor encoder returns the mean outside training): ``latents: means``.
  The validation log-likelihood is taken on one fixed draw per validation galaxy.

What the paper leaves open (our choices, in the config): the batch size of the flow (the
authors' job script: 512), the step at which the square-root decay starts (their code:
a linear warm-up over 500 VAE / 1,000 flow steps, then ``1 / sqrt(step)``; ours is flat,
then ``sqrt(decay_start / step)``), and the annealing schedule of the two training aids
(their code: the bottleneck mixing over ``0.25 * 2^7 * 1000 = 32,000`` of 125,000 steps).
"""

from __future__ import annotations

import logging
import math
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from galprior.progress import progress_bar

from galprior.models.augment import apply_dihedral, random_dihedral
from galprior.models.batches import EntryView, MinibatchStream
from galprior.models.ema import EMA
from galprior.models.flowvae import likelihood as lk
from galprior.models.flowvae.flow import LatentFlow
from galprior.models.flowvae.network import FlowVAE
from galprior.models.training import EarlyStopping, TrainingRun, train

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adafactor", "adam")
KEEP = ("last", "best", "ema")
FLOW_LATENTS = ("draws", "means")
VAE_HISTORY_COLUMNS = ("epoch", "step", "train_loss", "train_log_likelihood", "train_kl",
                       "val_loss", "val_log_likelihood", "val_kl", "skip_fraction",
                       "bottleneck_weight", "learning_rate")
FLOW_HISTORY_COLUMNS = ("epoch", "step", "train_log_prob", "val_log_prob", "learning_rate")


# -- data ------------------------------------------------------------------------------

@dataclass
class GalaxyTensors:
    """Stamps, PSFs and noise power spectra of a galaxy set, as float32 tensors.

    Attributes:
        images: ``(N, S, S)`` observed stamps (central crop). Unit: e-/s per pixel.
        psf: ``(N, P, P)`` PSF images, sum 1.
        noise_power: ``(N, S, S)`` noise power spectra of the crops.
        conditions: ``(N, 3)`` mag, half-light radius (arcsec), redshift.
    """

    images: Tensor
    psf: Tensor
    noise_power: Tensor
    conditions: Tensor

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, index: Tensor, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        return (self.images[index].to(device), self.psf[index].to(device),
                self.noise_power[index].to(device))


def galaxy_tensors(images: np.ndarray, psf: np.ndarray, noise_power: np.ndarray,
                   conditions: np.ndarray, image_size: int) -> GalaxyTensors:
    """Crop ``(N, H, W)`` stamps and their noise power spectra to ``image_size``."""
    if images.shape[-1] < image_size:
        raise ValueError(f"flowvae: stamps of side {images.shape[-1]} are smaller than "
                         f"image_size {image_size}")
    images_t = lk.pad_or_crop(torch.as_tensor(np.asarray(images, np.float32)), image_size)
    power = lk.crop_noise_power(torch.as_tensor(np.asarray(noise_power, np.float64)),
                                image_size)
    return GalaxyTensors(images_t.contiguous(), torch.as_tensor(np.asarray(psf, np.float32)),
                         power.float(), torch.as_tensor(np.asarray(conditions, np.float32)))


def galaxy_view(galaxies: Any, image_size: int | None = None,
                conditions: np.ndarray | None = None) -> EntryView:
    """Batches ``images``, ``psf``, ``noise_power``, ``conditions`` of a galaxy set.

    ``galaxies``: :class:`GalaxyTensors` (already cropped), an :class:`EntryView` (as it
    is), or a galaxy store's :class:`~galprior.store.StoreReader` with the ``(N, 3)``
    ``conditions`` of its galaxies: then each batch's stamps and noise power spectra are
    cropped to ``image_size`` as :func:`galaxy_tensors` crops them.
    """
    if isinstance(galaxies, EntryView):
        return galaxies
    if isinstance(galaxies, GalaxyTensors):
        return EntryView.of_arrays(images=galaxies.images, psf=galaxies.psf,
                                   noise_power=galaxies.noise_power, conditions=galaxies.conditions)
    side = galaxies.shape("images")[-1]
    if side < image_size:
        raise ValueError(f"flowvae: stamps of side {side} are smaller than image_size {image_size}")
    conditions = np.asarray(conditions, np.float32)

    def crop(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        images = lk.pad_or_crop(torch.as_tensor(batch["images"]), image_size)
        power = lk.crop_noise_power(torch.as_tensor(batch["noise_power"], dtype=torch.float64), image_size)
        return {**batch, "images": images.numpy(), "noise_power": power.float().numpy(),
                "conditions": conditions[batch["index"]]}

    return EntryView(galaxies, ("images", "psf", "noise_power"), crop)


def _sequential(data: Any, batch_size: int, device: torch.device) -> MinibatchStream:
    """``data`` (a stream, or what :func:`galaxy_view` takes) as batches in order."""
    if isinstance(data, MinibatchStream):
        return data
    return galaxy_view(data).stream(batch_size, device=device)


def _triple(batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    return batch["images"], batch["psf"], batch["noise_power"]


def dihedral_augment(images: Tensor, psf: Tensor, noise_power: Tensor,
                     generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Each galaxy of a batch under a random element of D4 (:mod:`galprior.models.augment`:
    flips and a transpose, 8 orientations, exact on the pixel grid).

    Why: galaxies are isotropic as a population, and the quick default trains on 1,500
    of them (the paper: 80,000, and silent on augmentation); an orientation is one more
    thing the decoder must learn from few examples (its samples came out too round).

    The observation model stays consistent: a flip of stamp and PSF is a flip of their
    convolution once the flipped PSF is rolled back onto its centre pixel ``P // 2``
    (:func:`galprior.models.flowvae.likelihood.convolve_psf`), and the noise power spectrum
    follows its image (a flip reflects that frequency axis, a transpose transposes it).
    The Fourier likelihood of the transformed model under the transformed data is then
    exactly that of the untransformed one (tested, with anisotropic noise).
    """
    element = random_dihedral(images.shape[0], generator, images.device)
    return (apply_dihedral(images, element), apply_dihedral(psf, element, "centred"),
            apply_dihedral(noise_power, element, "spectrum"))


# -- schedules and optimizer -------------------------------------------------------------

def sqrt_decay(step: int, base: float, decay_start: int) -> float:
    """``base * sqrt(decay_start / max(step, decay_start))``: flat, then 1/sqrt(step)."""
    return base * math.sqrt(decay_start / max(step, decay_start, 1))


def aid_strength(step: int, total_steps: int, initial: float, anneal_fraction: float) -> float:
    """``initial`` decreasing linearly to 0 at ``anneal_fraction * total_steps``."""
    end = anneal_fraction * total_steps
    if end <= 0:
        return 0.0
    return initial * max(0.0, 1.0 - step / end)


def make_optimizer(name: str, parameters, learning_rate: float) -> torch.optim.Optimizer:
    """Adafactor (Table 1) or Adam, at ``learning_rate`` (the decay is set per step).

    Adafactor is ``torch.optim.Adafactor``: relative steps (``min(lr, 1/sqrt(step))`` times
    each tensor's RMS), as tensor2tensor's with parameter scaling (the authors' code). Two
    differences from that code, where the paper is silent: torch factors the second moment
    over the last two axes of a tensor (for a convolution kernel ``(out, in, 3, 3)``, the
    3x3 axes; tensor2tensor over the two largest, ``in`` and ``out``), and we clip no
    gradient norm (their ``clip_grad_norm`` was 1). On CPU, torch's reduction over the 3x3
    axes of the 512-deep kernels takes most of a paper-size step (measured: about 6 of 7 s).
    """
    if name == "adafactor":
        return torch.optim.Adafactor(parameters, lr=learning_rate)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate)
    raise ValueError(f"flowvae: optimizer {name!r} is not one of {OPTIMIZERS}")


def set_learning_rate(optimizer: torch.optim.Optimizer, value: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = value


# -- length of a run ---------------------------------------------------------------------

def planned_steps(steps: int | None, epochs: int, n_batches: int) -> int:
    """Optimiser steps of a run: ``steps``, or ``epochs`` passes of ``n_batches`` when
    ``steps`` is None (the most a run with early stopping can take)."""
    return epochs * n_batches if steps is None else steps


def planned_passes(steps: int | None, epochs: int, n_batches: int) -> int:
    """Passes over the training set: ``epochs``, or as many as ``steps`` steps need."""
    return epochs if steps is None else math.ceil(steps / n_batches)


def early_stopping(steps: int | None, patience: int) -> EarlyStopping:
    """Early stopping after ``patience`` passes without improvement; never in a run of a
    fixed number of steps (the paper's runs)."""
    return EarlyStopping(patience=patience if steps is None else sys.maxsize, min_delta=0.0)


# -- the VAE -----------------------------------------------------------------------------

@dataclass(frozen=True)
class VAETrainingSettings:
    """Settings of one VAE run (config block ``lanusse.vae.training``; no defaults here).

    Attributes:
        steps: optimiser steps of the run, no early stopping (Table 1: 125,000); None:
            ``epochs`` passes with early stopping.
        epochs: passes over the training set (when ``steps`` is None).
        batch_size: galaxies per step (Table 1: 64).
        learning_rate: base learning rate (Table 1: 0.001).
        decay_start: steps before the square-root decay starts.
        optimizer: "adafactor" (Table 1) or "adam".
        transverse_fraction: initial fraction of transverse connections.
        bottleneck_penalty: initial weight of the bottleneck l2 penalty.
        anneal_fraction: fraction of the run after which both aids are off.
        patience: early-stopping patience on the validation loss (passes; when ``steps``
            is None).
        augment: train on randomly flipped and transposed batches (:func:`dihedral_augment`).
        keep: "last" (the paper's fixed number of steps), "best" (lowest validation loss)
            or "ema" (an exponential moving average of the weights, ours).
        ema_decay: decay of that average per step (used when ``keep`` is "ema").
    """

    steps: int | None
    epochs: int
    batch_size: int
    learning_rate: float
    decay_start: int
    optimizer: str
    transverse_fraction: float
    bottleneck_penalty: float
    anneal_fraction: float
    patience: int
    augment: bool
    keep: str
    ema_decay: float


@torch.no_grad()
def evaluate_vae(model: FlowVAE, data: Any, batch_size: int,
                 device: torch.device, seed: int = 0) -> dict[str, float]:
    """Mean loss, log-likelihood and KL per galaxy, without training aids, fixed noise
    (``data``: a sequential stream, or what :func:`galaxy_view` takes)."""
    model.eval()
    batches = _sequential(data, batch_size, device)
    generator = torch.Generator(device=device).manual_seed(seed)
    sums = {"loss": 0.0, "log_likelihood": 0.0, "kl": 0.0}
    for batch in batches:
        terms = model.loss(*_triple(batch), generator=generator)
        for key in sums:
            sums[key] += terms[key].sum().item()
    return {key: value / batches.n_entries for key, value in sums.items()}


def vae_epoch(run: TrainingRun, train_data: MinibatchStream, val_data: MinibatchStream,
              settings: VAETrainingSettings, device: torch.device) -> dict[str, float]:
    """One pass over the training stream (epoch ``run.epoch`` of its shuffle, cut short at
    ``settings.steps``), then the validation scores.

    With ``run.ema``, the moving average is updated after every step.
    """
    model = run.model
    model.train()
    n_batches = len(train_data)
    total_steps = planned_steps(settings.steps, settings.epochs, n_batches)
    sums = {"loss": 0.0, "log_likelihood": 0.0, "kl": 0.0}
    seen = 0
    for b, batch in enumerate(progress_bar(train_data.epoch(run.epoch), total=n_batches,
                                   desc=f"epoch {run.epoch} batches", leave=False, mininterval=10)):
        step = (run.epoch - 1) * n_batches + b
        if step >= total_steps:
            break
        lr = sqrt_decay(step, settings.learning_rate, settings.decay_start)
        set_learning_rate(run.optimizer, lr)
        skip = aid_strength(step, total_steps, settings.transverse_fraction,
                            settings.anneal_fraction)
        penalty = aid_strength(step, total_steps, settings.bottleneck_penalty,
                               settings.anneal_fraction)
        batch = _triple(batch)
        if settings.augment:
            batch = dihedral_augment(*batch, generator=run.generator)
        terms = model.loss(*batch, skip_fraction=skip,
                           bottleneck_weight=penalty)
        run.optimizer.zero_grad(set_to_none=True)
        terms["loss"].mean().backward()
        run.optimizer.step()
        if run.ema is not None:
            run.ema.update(model)
        for key in sums:
            sums[key] += terms[key].detach().sum().item()
        seen += len(batch[0])
        done = step + 1
    val = evaluate_vae(model, val_data, settings.batch_size, device)
    record = {"step": done, **{f"train_{k}": v / seen for k, v in sums.items()}}
    record.update({f"val_{k}": v for k, v in val.items()})
    record.update(skip_fraction=skip, bottleneck_weight=penalty, learning_rate=lr,
                  score=-val["loss"])
    return record


def fit_flow_vae(model: FlowVAE, train_data: Any, val_data: Any,
                 settings: VAETrainingSettings, *, checkpoint_dir: str | os.PathLike,
                 device: torch.device, seed: int, progress: bool = True) -> list[dict]:
    """Train the VAE with resumable checkpoints; returns the history (one row per pass).

    The run lasts ``settings.steps`` optimiser steps, or ``settings.epochs`` passes with
    early stopping when ``steps`` is None (:func:`planned_passes`).
    ``train_data``, ``val_data``: :class:`GalaxyTensors`, or :func:`galaxy_view` of a
    store (streamed: the training batches in a buffered shuffle seeded by ``seed`` and
    the pass, one at a time on ``device``).
    ``settings.keep`` says which weights the model ends with: those of the last step
    (the paper trains a fixed number of steps), of the pass with the lowest validation
    loss (without training aids), or their exponential moving average over the steps
    (ours: the validation loss of the quick preset swings by tens of percent between
    epochs).
    """
    if settings.keep not in KEEP:
        raise ValueError(f"flowvae: keep {settings.keep!r} is not one of {KEEP}")
    train_stream = galaxy_view(train_data).stream(settings.batch_size, shuffle=True, seed=seed,
                                                  device=device)
    val_stream = galaxy_view(val_data).stream(settings.batch_size, device=device)
    n_batches = len(train_stream)
    passes = planned_passes(settings.steps, settings.epochs, n_batches)
    logger.info("Flow-VAE training: %s (%d passes of %d steps at most)",
                "early stopping on the validation loss" if settings.steps is None
                else f"{settings.steps} optimiser steps", passes, n_batches)
    model.to(device)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = make_optimizer(settings.optimizer, model.parameters(), settings.learning_rate)
    run = TrainingRun(model=model, optimizer=optimizer,
                      stopper=early_stopping(settings.steps, settings.patience),
                      generator=generator,
                      settings={**settings.__dict__, "seed": seed,
                                "hyperparameters": model.hyperparameters},
                      ema=EMA(model, settings.ema_decay) if settings.keep == "ema" else None)
    history = train(run, lambda r: vae_epoch(r, train_stream, val_stream, settings, device),
                    epochs=passes, checkpoint_dir=checkpoint_dir, monitor="score",
                    restore_best=settings.keep == "best", progress=progress,
                    desc="flowvae epochs")
    if run.ema is not None:  # restored with the checkpoint, also when no epoch was left
        model.load_state_dict(run.ema.shadow.state_dict())
    return [{k: v for k, v in row.items() if k != "score"} for row in history]


# -- the latent flow ---------------------------------------------------------------------

@dataclass(frozen=True)
class LatentPosteriors:
    """Diagonal Gaussian posteriors ``q(z | x)`` of a galaxy set, ``(N, latent_dim)`` each.

    ``std`` may be zero: the latents are then points (e.g. a synthetic data set).
    """

    mean: Tensor
    std: Tensor

    def __len__(self) -> int:
        return len(self.mean)

    def draw(self, generator: torch.Generator) -> Tensor:
        """One ``z ~ q(z | x)`` per galaxy."""
        return self.mean + self.std * torch.randn(self.mean.shape, generator=generator)


@torch.no_grad()
def encode_posteriors(model: FlowVAE, data: Any, batch_size: int,
                      device: torch.device, progress: bool = False) -> LatentPosteriors:
    """Posteriors ``q(z | x)`` of the frozen encoder: its means and standard deviations
    (``data`` streamed in order, what :func:`galaxy_view` takes)."""
    model.eval().to(device)
    means, stds = [], []
    batches = _sequential(data, batch_size, device)
    for batch in progress_bar(batches, total=len(batches), desc="encoding", disable=not progress):
        images, psf, _ = _triple(batch)
        mean, log_std = model.encode(images, psf)
        means.append(mean.cpu())
        stds.append(log_std.exp().cpu())
    return LatentPosteriors(torch.cat(means), torch.cat(stds))


@dataclass(frozen=True)
class FlowTrainingSettings:
    """Settings of the latent-flow fit (config block ``lanusse.flow.training``).

    Attributes:
        steps: optimiser steps of the fit, no early stopping (sec. 4.2.2: 50,000); None:
            ``epochs`` passes with early stopping.
        epochs: passes over the encoded training set (when ``steps`` is None).
        batch_size: latents per step.
        learning_rate: base learning rate of Adam (paper: 0.001).
        decay_start: steps before the square-root decay starts.
        patience: early-stopping patience on the validation log-likelihood (passes; when
            ``steps`` is None).
        latents: "draws" (``z ~ q(z | x)``, fresh each pass) or "means" (the posterior
            means, the authors' code).
    """

    steps: int | None
    epochs: int
    batch_size: int
    learning_rate: float
    decay_start: int
    patience: int
    latents: str


def flow_epoch(run: TrainingRun, train_q: LatentPosteriors, train_y: Tensor, val_z: Tensor,
               val_y: Tensor, settings: FlowTrainingSettings,
               device: torch.device) -> dict[str, float]:
    """One pass of maximum likelihood (eq. 12) over fresh posterior draws (cut short at
    ``settings.steps``), then validation.

    The galaxies come in a buffered shuffle seeded by ``run.settings["seed"]`` and the
    pass; each batch's draws ``z ~ q(z | x)`` come from ``run.generator``.
    """
    flow = run.model
    flow.train()
    batches = EntryView.of_arrays(mean=train_q.mean, std=train_q.std, y=train_y).stream(
        settings.batch_size, shuffle=True, seed=run.settings["seed"], device=device)
    n_batches = len(batches)
    total_steps = planned_steps(settings.steps, settings.epochs, n_batches)
    total, seen = 0.0, 0
    for b, batch in enumerate(batches.epoch(run.epoch)):
        step = (run.epoch - 1) * n_batches + b
        if step >= total_steps:
            break
        lr = sqrt_decay(step, settings.learning_rate, settings.decay_start)
        set_learning_rate(run.optimizer, lr)
        noise = torch.randn(batch["mean"].shape, generator=run.generator).to(device)
        log_prob = flow.log_prob(batch["mean"] + batch["std"] * noise, batch["y"])
        run.optimizer.zero_grad(set_to_none=True)
        (-log_prob.mean()).backward()
        run.optimizer.step()
        total += log_prob.detach().sum().item()
        seen += len(log_prob)
        done = step + 1
    flow.eval()
    with torch.no_grad():
        val = flow.log_prob(val_z.to(device), val_y.to(device)).mean().item()
    return {"step": done, "train_log_prob": total / seen, "val_log_prob": val,
            "learning_rate": lr}


def fit_latent_flow(flow: LatentFlow, train_q: LatentPosteriors, train_y: Tensor,
                    val_q: LatentPosteriors, val_y: Tensor, settings: FlowTrainingSettings, *,
                    checkpoint_dir: str | os.PathLike, device: torch.device, seed: int,
                    progress: bool = True) -> list[dict]:
    """Fit the conditional MAF to posterior draws ``z ~ q(z | x)`` (or, with
    ``settings.latents == "means"``, the posterior means) given ``y`` (Adam, square-root
    decay) for ``settings.steps`` steps, or ``settings.epochs`` passes with early
    stopping; the history (one row per pass). The flow ends with the weights of the last
    step in a fixed-step run (the paper's 50,000 iterations), with those of the best
    validation log-likelihood when it stops early.

    The latents are standardised with one draw of the training posteriors; the
    validation draw is fixed by ``seed``.
    """
    if settings.latents not in FLOW_LATENTS:
        raise ValueError(f"latent flow: latents {settings.latents!r} is not one of {FLOW_LATENTS}")
    if settings.latents == "means":
        train_q = LatentPosteriors(train_q.mean, torch.zeros_like(train_q.mean))
        val_q = LatentPosteriors(val_q.mean, torch.zeros_like(val_q.mean))
    n_batches = math.ceil(len(train_q) / settings.batch_size)
    passes = planned_passes(settings.steps, settings.epochs, n_batches)
    draws = torch.Generator().manual_seed(seed + 1)
    flow.set_standardisation(train_q.draw(draws), train_y)
    val_z = val_q.draw(draws)
    flow.to(device)
    torch.manual_seed(seed)
    run = TrainingRun(model=flow,
                      optimizer=torch.optim.Adam(flow.parameters(), lr=settings.learning_rate),
                      stopper=early_stopping(settings.steps, settings.patience),
                      generator=torch.Generator().manual_seed(seed),
                      settings={**settings.__dict__, "seed": seed,
                                "hyperparameters": flow.hyperparameters})
    return train(run, lambda r: flow_epoch(r, train_q, train_y, val_z, val_y, settings, device),
                 epochs=passes, checkpoint_dir=checkpoint_dir, monitor="val_log_prob",
                 restore_best=settings.steps is None, progress=progress,
                 desc="latent flow epochs")


def as_settings(cls: type, options: dict[str, Any]):
    """Build a settings dataclass from a config block, naming missing or unknown keys."""
    names = set(cls.__dataclass_fields__)
    missing, unknown = sorted(names - set(options)), sorted(set(options) - names)
    if missing or unknown:
        raise ValueError(f"{cls.__name__}: missing keys {missing}, unknown keys {unknown}")
    return cls(**options)
