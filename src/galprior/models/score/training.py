"""Training the score prior by denoising score matching (Adam et al. 2022 sec. 2.1 and 3).

Pieces, each testable on its own:

- :func:`random_symmetry`: a random element of the dihedral group D4 per image (flips and
  transposes, :mod:`galprior.models.augment`; galaxies have no preferred orientation) --
  our augmentation, the paper does not mention one;
- :func:`training_step`: one Adam step on eq. 3 with gradient-norm clipping (NCSN++: 1);
- :func:`validation_loss`: eq. 3 on held-out images with a fixed draw of (t, z), so that
  successive evaluations are comparable (the loss curves);
- :func:`fit_score_model`: the loop -- blocks of ``checkpoint_every`` steps, after each
  block one log line, one history row and a resumable checkpoint (weights, EMA weights,
  optimiser, step, generator state, history) in ``checkpoint_dir``.

The paper trains NCSN++ with batches of 16 for ~350 000 steps (Adam, as Song et al.
2021: lr 2e-4, 5000 warm-up steps, EMA 0.999, gradient clipping 1); ours are set in the
config (``adam.score_model.training``). The EMA weights are the model that is saved.
The batches are streamed (:mod:`galprior.models.batches`): epochs of a buffered shuffle
of the training images (an array, or a Zarr array on disk), seeded by ``(seed, epoch)``;
step ``s`` takes batch ``s mod n`` of epoch ``s div n`` (``n`` batches per epoch, an
incomplete last batch dropped), so that every step sees ``batch_size`` images and a
resumed run finds its place from the step alone. The rest of the randomness (the
symmetries, t and z of eq. 3) comes from one ``torch.Generator`` whose state is
checkpointed, so a run killed after a block and resumed ends with the same weights as an
uninterrupted run.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from galprior.progress import progress_bar

from galprior.models.augment import apply_dihedral, random_dihedral
from galprior.models.batches import EntryView, MinibatchStream
from galprior.models.checkpoint import (LAST_CHECKPOINT_FILE, load_checkpoint, refuse_other_settings,
                                        save_checkpoint, unfit_message)

from galprior.models.ema import EMA
from .loss import dsm_loss
from .network import ScoreUNet

__all__ = ["ScoreTrainingConfig", "random_symmetry", "training_step", "validation_loss",
           "fit_score_model", "HISTORY_COLUMNS"]

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = ("step", "train_loss", "val_loss", "val_loss_ema", "lr")


@dataclass(frozen=True)
class ScoreTrainingConfig:
    """``adam.score_model.training`` of the config (defaults in the schema only)."""

    steps: int
    batch_size: int
    lr: float
    warmup_steps: int
    grad_clip: float
    ema_decay: float
    checkpoint_every: int
    augment: bool
    n_validation: int


def random_symmetry(x: Tensor, generator: torch.Generator) -> Tensor:
    """Each image (B, H, W) under a random element of D4 (:mod:`galprior.models.augment`)."""
    return apply_dihedral(x, random_dihedral(x.shape[0], generator, x.device))


def learning_rate(step: int, lr: float, warmup_steps: int) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps`` (NCSN++), then constant."""
    return lr * min(1.0, (step + 1) / max(1, warmup_steps))


def training_step(model: ScoreUNet, optimizer: torch.optim.Optimizer, batch: Tensor,
                  generator: torch.Generator, grad_clip: float) -> float:
    """One optimiser step on the DSM loss (eq. 3) of ``batch`` (B, H, W); returns the loss."""
    model.train()
    loss = dsm_loss(model, batch, generator=generator)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def validation_loss(model: ScoreUNet, images: Tensor, seed: int = 0, batch_size: int = 256) -> float:
    """Eq. 3 on ``images`` with (t, z) drawn from ``seed`` (the same draw at every call)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    t = torch.rand(len(images), generator=gen).to(images)
    z = torch.randn(images.shape, generator=gen).to(images)
    total = 0.0
    for i in range(0, len(images), batch_size):
        sl = slice(i, i + batch_size)
        total += float(dsm_loss(model, images[sl], t[sl], z[sl])) * len(images[sl])
    return total / len(images)


@dataclass
class _Run:
    model: ScoreUNet
    ema: EMA
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    seed: int
    step: int = 0
    history: list[dict] = field(default_factory=list)

    def state(self) -> dict:
        return {"model": self.model.state_dict(), "ema": self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(), "step": self.step,
                "generator": self.generator.get_state(), "history": self.history,
                "hyperparameters": self.model.hyperparameters, "seed": self.seed}

    def restore(self, state: dict, folder: str | os.PathLike) -> None:
        """Continue the run saved in ``state``; refuse one with other hyper-parameters or
        another seed (it would silently stand in for this run's model)."""
        path = Path(folder) / LAST_CHECKPOINT_FILE
        ours = {"hyperparameters": self.model.hyperparameters, "seed": self.seed}
        refuse_other_settings({key: state.get(key) for key in ours}, ours, path)
        try:
            self.model.load_state_dict(state["model"])
            self.ema.load_state_dict(state["ema"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.step = int(state["step"])
            self.generator.set_state(state["generator"])
            self.history = list(state["history"])
        except (RuntimeError, KeyError) as err:  # weights of another architecture, or an older layout
            raise ValueError(unfit_message(path, err)) from err


def _log_block(run: _Run, losses: list[float], val: Tensor, lr: float) -> None:
    row = {"step": run.step, "train_loss": float(np.mean(losses)),
           "val_loss": validation_loss(run.model, val), "val_loss_ema": validation_loss(run.ema.shadow, val),
           "lr": lr}
    run.history.append(row)
    logger.info("step %d: train DSM loss %.2f, validation %.2f (EMA %.2f)", row["step"],
                row["train_loss"], row["val_loss"], row["val_loss_ema"])


def _batches_from(stream: MinibatchStream, step: int):
    """Training batches from step ``step`` on, epoch after epoch (endless)."""
    epoch, offset = divmod(step, len(stream))
    while True:
        yield from stream.epoch(epoch, start_batch=offset)
        epoch, offset = epoch + 1, 0


def fit_score_model(train_images: np.ndarray, val_images: np.ndarray, architecture: dict,
                    sigma_min: float, sigma_max: float, config: ScoreTrainingConfig,
                    checkpoint_dir: str | os.PathLike, seed: int,
                    device: torch.device | str = "cpu",
                    normalisation: str = "unit_peak") -> tuple[ScoreUNet, pd.DataFrame]:
    """Train eps_theta on ``train_images`` (N, H, W) in the units of ``normalisation``;
    returns the EMA model (CPU) and the history.

    ``train_images`` may be a Zarr array (streamed, a shuffle buffer at a time);
    ``val_images[:n_validation]`` are held in memory. Resumes from
    ``checkpoint_dir/last.pt`` when it exists (same hyper-parameters).
    """
    torch.manual_seed(seed)  # weight initialisation
    model = ScoreUNet(image_size=train_images.shape[-1], sigma_min=sigma_min, sigma_max=sigma_max,
                      normalisation=normalisation, **architecture).to(device)
    run = _Run(model, EMA(model, config.ema_decay), torch.optim.Adam(model.parameters(), lr=config.lr),
               torch.Generator().manual_seed(seed), seed)
    state = load_checkpoint(checkpoint_dir)
    if state is not None:
        run.restore(state, checkpoint_dir)
        logger.info("resumed training at step %d from %s", run.step, checkpoint_dir)
    stream = EntryView.of_arrays(images=train_images).stream(
        config.batch_size, shuffle=True, seed=seed, drop_last=train_images.shape[0] >= config.batch_size)
    batches = _batches_from(stream, run.step)
    val = torch.as_tensor(np.asarray(val_images[:config.n_validation]), dtype=torch.float32).to(device)
    logger.info("training the score model (%d weights) on %d images of %dx%d for %d steps",
                sum(p.numel() for p in model.parameters()), *train_images.shape,
                config.steps)
    bar = progress_bar(total=config.steps, initial=run.step, desc="DSM steps")
    losses: list[float] = []
    while run.step < config.steps:
        lr = learning_rate(run.step, config.lr, config.warmup_steps)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        batch = next(batches)["images"]
        if config.augment:
            batch = random_symmetry(batch, run.generator)
        losses.append(training_step(model, run.optimizer, batch.to(device), run.generator, config.grad_clip))
        run.ema.update(model)
        run.step += 1
        bar.update()
        if run.step % config.checkpoint_every == 0 or run.step == config.steps:
            _log_block(run, losses, val, lr)
            losses = []
            save_checkpoint(checkpoint_dir, run.state())
    bar.close()
    history = pd.DataFrame(run.history, columns=list(HISTORY_COLUMNS))
    return run.ema.shadow.cpu().eval(), history
