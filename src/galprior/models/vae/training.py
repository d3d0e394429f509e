"""Training the VAE: one epoch, validation, and the VAE's use of the shared training loop.

The pieces are separate and each testable on its own:

- :func:`image_view`: the images of a galaxy store (opened lazily) or of an array, as
  an :class:`~galprior.models.batches.EntryView` whose batches get the channel axis
  (and the shape and finiteness checks of :func:`images_to_tensor`) one at a time.
- :func:`train_epoch`: one pass over shuffled training batches, maximising the ELBO.
- :func:`evaluate`: mean validation ELBO with a fixed noise draw, so that epochs are
  compared on the same ``eps`` and early stopping does not chase Monte-Carlo noise.
- :func:`fit_vae`: builds the run and hands it to the loop shared by every model
  family (:func:`galprior.models.training.train`: early stopping, checkpoints in
  ``checkpoint_dir``, resumption, one log line per epoch).

Chianese et al. 2020 sec. 2.2 and App. C: Adam with learning rate 1e-6,
``(beta1, beta2) = (0.5, 0.999)``, batches of 32, M = 10 draws of z per image in the
ELBO estimate (eq. C3), training stopped when the validation ELBO stops improving
(~450 epochs): ``config/presets/paper.yaml``. The quick default uses lr 1e-3 and M = 1
to train in minutes on a CPU; the patience and ``min_delta`` (the paper stops "at this
point") are our choices (schema defaults). Training is deterministic given ``seed``: the
batches are streamed from the store's chunks in a buffered shuffle seeded by ``(seed,
epoch)`` (:mod:`galprior.models.batches`; memory: a few chunks, not the split), and the
reparameterisation noise comes from one ``torch.Generator`` whose state is
checkpointed, so a run killed after epoch ``k`` and resumed ends with the same weights
as an uninterrupted run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from galprior.progress import progress_bar

from galprior.models.batches import EntryView
from galprior.models.training import EarlyStopping, TrainingRun, history_to_frame, train
from galprior.models.vae.network import VAE, images_to_tensor

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "train_elbo", "val_elbo")


def image_view(images: Any, image_size: int) -> EntryView:
    """``images`` (a galaxy store's :class:`~galprior.store.StoreReader`, or an ``(N, H, W)``
    array) as batches of ``(B, 1, H, W)`` model input, checked batch by batch."""
    view = images if isinstance(images, EntryView) else None
    if view is None:
        source = images if hasattr(images, "chunk_length") else None
        view = (EntryView(source, ("images",)) if source is not None
                else EntryView.of_arrays(images=np.asarray(images, dtype=np.float32)))
    shape = view.source.shape("images")
    if len(shape) != 3 or shape[1:] != (image_size, image_size) or shape[0] == 0:
        raise ValueError(f"expected images of shape (N>0, {image_size}, {image_size}), got {shape}")

    def to_input(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {**batch, "images": images_to_tensor(batch["images"], image_size).numpy()}

    return EntryView(view.source, ("images",), to_input)


def _images(batches: Iterable[Any]) -> Iterable[Tensor]:
    """The image tensors of stream batches (dicts), or the tensors given."""
    for batch in batches:
        yield batch["images"] if isinstance(batch, dict) else batch


def train_epoch(
    model: VAE,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Any],
    generator: torch.Generator,
    progress: bool = False,
    n_latent_samples: int = 1,
) -> float:
    """One pass over ``batches`` of ``(B, 1, H, W)`` images (a stream epoch, or tensors).

    The reparameterisation noise is drawn from ``generator``; the expected
    log-likelihood is averaged over ``n_latent_samples`` draws (eq. C3).

    Returns:
        The mean training ELBO per image over the epoch (nats).
    """
    model.train()
    total, count = 0.0, 0
    for batch in progress_bar(_images(batches), desc="batches", leave=False, disable=not progress):
        per_sample = model.elbo(batch, generator, n_latent_samples)
        loss = -per_sample.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += per_sample.detach().sum().item()
        count += len(batch)
    return total / count


@torch.no_grad()
def evaluate(model: VAE, batches: Iterable[Any], seed: int = 0, n_latent_samples: int = 1) -> float:
    """Mean ELBO per image of ``batches`` (a sequential stream, or tensors) in eval mode,
    with noise drawn from ``seed`` (``n_latent_samples`` draws per image)."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for batch in _images(batches):
        total += model.elbo(batch, generator, n_latent_samples).sum().item()
        count += len(batch)
    return total / count


def fit_vae(
    model: VAE,
    train_images: Any,
    val_images: Any,
    *,
    epochs: int,
    checkpoint_dir: str | os.PathLike,
    batch_size: int,
    lr: float,
    betas: tuple[float, float],
    patience: int,
    min_delta: float,
    n_latent_samples: int,
    seed: int,
    device: torch.device | str = "cpu",
    restore_best: bool = True,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``model`` in place by maximising the ELBO, with early stopping and resumption.

    Args:
        model: the VAE (freshly initialised, or whatever ``last.pt`` will overwrite).
        train_images, val_images: ``(N, H, W)`` float32 images (max-1 normalised): the
            stores' readers (:meth:`galprior.store.Store.open`; streamed) or arrays.
        epochs: maximum total number of epochs (counting those of a resumed run).
        checkpoint_dir: where ``last.pt`` and ``best.pt`` live; if ``last.pt`` exists the
            run continues after its epoch, and must have been written with the same
            settings (everything below except ``epochs``, ``device``, ``restore_best``,
            ``progress``).
        batch_size, lr, betas: Adam mini-batch settings.
        patience, min_delta: early stopping on the validation ELBO.
        n_latent_samples: M draws of z per image in the ELBO estimate (eq. C3; paper 10).
        seed: seeds shuffling and reparameterisation noise (not the weight init: seed
            ``torch`` before building the model for that).
        device: where the model and each batch live during training.
        restore_best: load the best-validation weights into ``model`` at the end.
        progress: show progress bars (epochs, and batches within an epoch).

    Returns:
        The history, one ``{"epoch", "train_elbo", "val_elbo"}`` dict per epoch (mean
        ELBO per image, nats), including epochs of the run that was resumed.
    """
    device = torch.device(device)
    model.to(device)
    train_set = image_view(train_images, model.image_size).stream(batch_size, shuffle=True, seed=seed,
                                                                 device=device)
    val_set = image_view(val_images, model.image_size).stream(batch_size, device=device)
    settings = {
        "hyperparameters": model.hyperparameters, "batch_size": batch_size, "lr": lr,
        "betas": list(betas), "patience": patience, "min_delta": min_delta, "seed": seed,
        "n_latent_samples": n_latent_samples,
        "n_train": train_set.n_entries, "n_val": val_set.n_entries,
    }
    run = TrainingRun(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=lr, betas=tuple(betas)),
        stopper=EarlyStopping(patience, min_delta),
        generator=torch.Generator().manual_seed(seed),
        settings=settings,
    )

    def epoch(run: TrainingRun) -> dict[str, float]:
        return {"train_elbo": train_epoch(run.model, run.optimizer, train_set.epoch(run.epoch),
                                          run.generator, progress, n_latent_samples),
                "val_elbo": evaluate(run.model, val_set, seed + 1, n_latent_samples)}

    history = train(run, epoch, epochs=epochs, checkpoint_dir=checkpoint_dir, monitor="val_elbo",
                    restore_best=restore_best, progress=progress, desc="VAE epochs")
    model.to("cpu")
    return history


def vae_history_frame(history: list[dict[str, float]]) -> pd.DataFrame:
    """The VAE training history as a table with columns ``epoch, train_elbo, val_elbo``."""
    return history_to_frame(history, HISTORY_COLUMNS)
