"""The three training stages of Nguyen 2025 (sec. 3.2, Fig. 8) and the latent flow.

1. :func:`train_stage1`: the β-VAE on noisy isolated galaxies → clean isolated galaxies.
2. :func:`train_stage2`: a fresh encoder under the frozen training-1 decoder, on noisy
   blends → clean isolated centre galaxies.
3. :func:`train_stage3`: the regressor from the frozen training-2 encoder's μ to the
   moment ellipticities (MSE).
4. :func:`fit_latent_flow` (beyond the report): a MAF on the training-1 latent means.

Every stage runs through the project's shared loop (:func:`galprior.models.training.train`):
resumable from ``checkpoint_dir/last.pt`` (weights, optimizer, epoch, generator and RNG
states, history), best weights by validation loss, one log line per epoch. Adam with the
configured learning rate (the report: 1e-4, about 40 epochs). The data come as
:mod:`galprior.models.batches` streams of ``x`` (input) and ``y`` (target) batches: the
VAE stages read an :class:`~galprior.models.batches.EntryView` (a blend store opened
lazily, normalised per batch: :func:`galprior.models.deblender.products.blend_view`; or
arrays, :func:`pairs`), so memory holds a shuffle buffer, not the 180,000 blends; the
regressor and the flow read their latents from memory the same way. With a colour head
(beyond the report, :class:`~galprior.models.deblender.network.ColourHead`) the batches
also hold ``flux``, the target's band fluxes, and ``aperture``, the input's central
aperture fluxes (physical units), and the stages add
``colour_weight`` × :func:`~galprior.models.deblender.network.colour_loss` of the head's
output to eq. 6; it trains the head only (μ detached), and the best epoch is chosen by
eq. 6 alone, so the encoder and decoder are the report's. The shuffle is
seeded by ``seed`` and the epoch; the reparameterisation noise comes from one
``torch.Generator`` seeded from ``seed``. Validation losses use ``z = μ`` so that epochs
are compared without Monte-Carlo noise.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from galprior.models.batches import EntryView, MinibatchStream
from galprior.models.deblender.network import DeblenderVAE, EllipticityRegressor, LatentFlow, beta_vae_loss, colour_loss
from galprior.models.training import EarlyStopping, TrainingRun, train

logger = logging.getLogger(__name__)

VAE_HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_mse", "val_kl", "val_colour")
REGRESSOR_HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss")
FLOW_HISTORY_COLUMNS = ("epoch", "train_nll", "val_nll")


@dataclass(frozen=True)
class StageSettings:
    """Optimisation settings of one stage (from the config block ``nguyen.training``)."""

    epochs: int
    batch_size: int
    learning_rate: float
    patience: int
    seed: int


def _tensor(array: np.ndarray, device: torch.device) -> Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float32), device=device)


def pairs(x: np.ndarray, y: np.ndarray, **colour: np.ndarray) -> EntryView:
    """Inputs ``x`` and targets ``y`` held in memory as a view of ``x``/``y`` batches (for a
    colour head also ``flux``, the targets' band fluxes, and ``aperture``, the inputs'
    aperture fluxes, ``(N, B)`` in physical units)."""
    return EntryView.of_arrays(x=x, y=y, **colour)


def vae_loss(model: DeblenderVAE, recon: Tensor, batch: dict[str, Tensor], mu: Tensor, log_var: Tensor,
             beta: float, colour_weight: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Eq. 6 per image, plus ``colour_weight`` × the colour loss when the model has a head
    (zero otherwise); returns (loss, mse, kl, colour). The colour loss trains the head only
    (μ is detached), so the encoder and decoder are those eq. 6 alone would give."""
    loss, mse, kl = beta_vae_loss(recon, batch["y"], mu, log_var, beta)
    if model.colour is None or colour_weight <= 0:
        return loss, mse, kl, torch.zeros_like(mse)
    # the head reads μ without sending gradients back: the encoder and decoder train on eq. 6 alone
    colour = colour_loss(model.colour(mu.detach(), batch["aperture"]), batch["flux"])
    return loss + colour_weight * colour, mse, kl, colour


def _streams(train_view: EntryView, val_view: EntryView, settings: StageSettings,
             device: torch.device) -> tuple[MinibatchStream, MinibatchStream]:
    """The shuffled training stream and the sequential validation stream of a stage."""
    return (train_view.stream(settings.batch_size, shuffle=True, seed=settings.seed, device=device),
            val_view.stream(settings.batch_size, device=device))


def _vae_epoch(run: TrainingRun, train_data: MinibatchStream, val_data: MinibatchStream,
               beta: float, colour_weight: float = 0.0) -> dict[str, float]:
    model = run.model
    model.train()
    total = 0.0
    for batch in train_data.epoch(run.epoch):
        mu, log_var = model.encode(batch["x"])
        eps = torch.randn(mu.shape, generator=run.generator).to(mu.device)
        recon = model.decode(mu + torch.exp(0.5 * log_var) * eps)
        loss, _, _, _ = vae_loss(model, recon, batch, mu, log_var, beta, colour_weight)
        run.optimizer.zero_grad(set_to_none=True)
        loss.mean().backward()
        run.optimizer.step()
        total += loss.detach().sum().item()
    val = evaluate_vae(model, val_data, beta, colour_weight)
    # best epoch and early stopping by eq. 6 alone: the colour head does not choose the networks
    return {"train_loss": total / train_data.n_entries, **val, "score": -(val["val_mse"] + beta * val["val_kl"])}


@torch.no_grad()
def evaluate_vae(model: DeblenderVAE, batches: MinibatchStream, beta: float, colour_weight: float = 0.0) -> dict[str, float]:
    """Mean validation loss, MSE, KL and colour loss (mag², 0 without a head) per image,
    decoding ``z = μ`` (``x``/``y`` batches in order)."""
    model.eval()
    sums = np.zeros(4)
    for batch in batches:
        mu, log_var = model.encode(batch["x"])
        terms = vae_loss(model, model.decode(mu), batch, mu, log_var, beta, colour_weight)
        sums += [t.sum().item() for t in terms]
    sums /= batches.n_entries
    return {"val_loss": float(sums[0]), "val_mse": float(sums[1]), "val_kl": float(sums[2]), "val_colour": float(sums[3])}


def _first_batch(view: EntryView) -> dict[str, Tensor]:
    batch = next(iter(view.stream(1, buffer_chunks=1)), None)
    if batch is None:
        raise ValueError("the deblender needs at least one training blend, got none")
    return batch


def mean_target(view: EntryView, batch_size: int = 256) -> float:
    """Mean of every target pixel ``y`` of ``view`` (one streamed pass, float64 sums)."""
    total, count = 0.0, 0
    for batch in view.stream(batch_size):
        total += float(batch["y"].double().sum())
        count += batch["y"].numel()
    return total / count


def _run(model: torch.nn.Module, parameters, settings: StageSettings, extra_settings: dict) -> TrainingRun:
    torch.manual_seed(settings.seed)
    return TrainingRun(
        model=model,
        optimizer=torch.optim.Adam(parameters, lr=settings.learning_rate),
        stopper=EarlyStopping(patience=settings.patience, min_delta=0.0),
        generator=torch.Generator().manual_seed(settings.seed),
        settings={**asdict(settings), **extra_settings},
    )


def train_stage1(
    train_data: EntryView, val_data: EntryView, *,
    latent_dim: int, beta: float, settings: StageSettings, checkpoint_dir: str | os.PathLike,
    device: torch.device, progress: bool = True, colour_weight: float = 0.0, colour_hidden: int = 0,
) -> tuple[DeblenderVAE, list[dict[str, float]]]:
    """Training 1: noisy isolated ``x`` → clean isolated ``y`` (normalised, ``(N, B, H, W)``
    batches of the views: :func:`pairs` of arrays, or a blend store's view). With
    ``colour_weight > 0`` a colour head of ``colour_hidden`` units is trained too (the
    batches must hold ``flux`` and ``aperture``)."""
    torch.manual_seed(settings.seed)
    x = _first_batch(train_data)["x"]
    model = DeblenderVAE(bands=x.shape[1], stamp_pixels=x.shape[-1], latent_dim=latent_dim,
                         colour_hidden=colour_hidden if colour_weight > 0 else 0)
    model.init_output_bias(mean_target(train_data))
    model.to(device)
    run = _run(model, model.parameters(), settings, {"stage": 1, "beta": beta, "latent_dim": latent_dim,
                                                     "colour_weight": colour_weight, "colour_hidden": colour_hidden})
    train_stream, val_stream = _streams(train_data, val_data, settings, device)
    history = train(run, lambda r: _vae_epoch(r, train_stream, val_stream, beta, colour_weight), epochs=settings.epochs,
                    checkpoint_dir=checkpoint_dir, monitor="score", progress=progress, desc="training 1")
    return model, history


def train_stage2(
    vae1: DeblenderVAE, train_data: EntryView, val_data: EntryView, *,
    beta: float, settings: StageSettings, checkpoint_dir: str | os.PathLike, device: torch.device, progress: bool = True,
    colour_weight: float = 0.0,
) -> tuple[DeblenderVAE, list[dict[str, float]]]:
    """Training 2: a new encoder on noisy blends ``x`` → clean centre galaxies ``y``; decoder
    frozen. A colour head starts from training 1's and is fitted again on the blends (its
    correction reads the new encoder's μ, and neighbours now share the aperture); the
    colour loss trains the head only."""
    torch.manual_seed(settings.seed)
    model = DeblenderVAE(**vae1.hyperparameters)
    model.decoder.load_state_dict(vae1.decoder.state_dict())
    if vae1.colour is not None:
        model.colour.load_state_dict(vae1.colour.state_dict())
    model.freeze_decoder()
    model.to(device)
    trained = list(model.encoder.parameters()) + (list(model.colour.parameters()) if model.colour is not None else [])
    run = _run(model, trained, settings, {"stage": 2, "beta": beta, "colour_weight": colour_weight})
    train_stream, val_stream = _streams(train_data, val_data, settings, device)
    history = train(run, lambda r: _vae_epoch(r, train_stream, val_stream, beta, colour_weight), epochs=settings.epochs,
                    checkpoint_dir=checkpoint_dir, monitor="score", progress=progress, desc="training 2")
    return model, history


@torch.no_grad()
def encode_means(model: DeblenderVAE, images: np.ndarray | EntryView, batch_size: int,
                 device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """μ and log σ² of the encoder for normalised ``images`` (an array, or a view whose
    batches hold them as ``x``: streamed in order); ``(N, latent_dim)`` each."""
    model.eval().to(device)
    view = images if isinstance(images, EntryView) else EntryView.of_arrays(x=images)
    mus, log_vars = [], []
    for batch in view.stream(batch_size, device=device):
        mu, log_var = model.encode(batch["x"])
        mus.append(mu.cpu().numpy())
        log_vars.append(log_var.cpu().numpy())
    return np.concatenate(mus), np.concatenate(log_vars)


def _regressor_epoch(run: TrainingRun, train_data: MinibatchStream, val_data: MinibatchStream) -> dict[str, float]:
    model = run.model
    model.train()
    total = 0.0
    for batch in train_data.epoch(run.epoch):
        loss = (model(batch["x"]) - batch["y"]).pow(2).mean()
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        total += loss.item() * len(batch["x"])
    model.eval()
    squared, count = 0.0, 0
    with torch.no_grad():
        for batch in val_data:
            squared += (model(batch["x"]) - batch["y"]).pow(2).sum().item()
            count += batch["y"].numel()
    val = squared / count
    return {"train_loss": total / train_data.n_entries, "val_loss": val, "score": -val}


def train_stage3(
    mu_train: np.ndarray, e_train: np.ndarray, mu_val: np.ndarray, e_val: np.ndarray, *,
    dropout: float, settings: StageSettings, checkpoint_dir: str | os.PathLike, device: torch.device, progress: bool = True,
) -> tuple[EllipticityRegressor, list[dict[str, float]]]:
    """Training 3: the regressor from the frozen training-2 μ to (e1, e2), MSE loss."""
    torch.manual_seed(settings.seed)
    model = EllipticityRegressor(latent_dim=mu_train.shape[1], dropout=dropout).to(device)
    run = _run(model, model.parameters(), settings, {"stage": 3, "dropout": dropout})
    train_stream, val_stream = _streams(pairs(mu_train, e_train), pairs(mu_val, e_val), settings, device)
    history = train(run, lambda r: _regressor_epoch(r, train_stream, val_stream), epochs=settings.epochs,
                    checkpoint_dir=checkpoint_dir, monitor="score", progress=progress, desc="training 3")
    return model, history


def _flow_epoch(run: TrainingRun, train_data: MinibatchStream, val_data: MinibatchStream) -> dict[str, float]:
    model = run.model
    model.train()
    total = 0.0
    for batch in train_data.epoch(run.epoch):
        nll = -model.log_prob(batch["z"]).mean()
        run.optimizer.zero_grad(set_to_none=True)
        nll.backward()
        run.optimizer.step()
        total += nll.item() * len(batch["z"])
    model.eval()
    with torch.no_grad():
        val = -sum(model.log_prob(batch["z"]).sum().item() for batch in val_data) / val_data.n_entries
    return {"train_nll": total / train_data.n_entries, "val_nll": val, "score": -val}


def fit_latent_flow(
    z_train: np.ndarray, z_val: np.ndarray, *, transforms: int, hidden_features: int,
    settings: StageSettings, checkpoint_dir: str | os.PathLike, device: torch.device, progress: bool = True,
) -> tuple[LatentFlow, list[dict[str, float]]]:
    """Maximum-likelihood MAF on the training-1 latent means (standardised)."""
    torch.manual_seed(settings.seed)
    model = LatentFlow(latent_dim=z_train.shape[1], transforms=transforms, hidden_features=hidden_features)
    model.set_standardisation(_tensor(z_train, torch.device("cpu")))
    model.to(device)
    run = _run(model, model.parameters(), settings, {"stage": "flow", "transforms": transforms, "hidden_features": hidden_features})
    train_stream, val_stream = _streams(EntryView.of_arrays(z=z_train), EntryView.of_arrays(z=z_val), settings, device)
    history = train(run, lambda r: _flow_epoch(r, train_stream, val_stream), epochs=settings.epochs,
                    checkpoint_dir=checkpoint_dir, monitor="score", progress=progress, desc="latent flow")
    return model, history
