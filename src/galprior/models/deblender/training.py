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
configured learning rate (the report: 1e-4, about 40 epochs). Shuffling and the
reparameterisation noise come from one ``torch.Generator`` seeded from ``seed``.
Validation losses use ``z = μ`` so that epochs are compared without Monte-Carlo noise.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from galprior.models.deblender.network import DeblenderVAE, EllipticityRegressor, LatentFlow, beta_vae_loss
from galprior.models.training import EarlyStopping, TrainingRun, train

logger = logging.getLogger(__name__)

VAE_HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_mse", "val_kl")
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


def _batches(n: int, batch_size: int, generator: torch.Generator | None):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def _vae_epoch(run: TrainingRun, data: dict[str, Tensor], beta: float, batch_size: int) -> dict[str, float]:
    model = run.model
    model.train()
    total = 0.0
    n = len(data["x_train"])
    for idx in _batches(n, batch_size, run.generator):
        x, y = data["x_train"][idx.to(data["x_train"].device)], data["y_train"][idx.to(data["y_train"].device)]
        mu, log_var = model.encode(x)
        eps = torch.randn(mu.shape, generator=run.generator).to(mu.device)
        recon = model.decode(mu + torch.exp(0.5 * log_var) * eps)
        loss, _, _ = beta_vae_loss(recon, y, mu, log_var, beta)
        run.optimizer.zero_grad(set_to_none=True)
        loss.mean().backward()
        run.optimizer.step()
        total += loss.detach().sum().item()
    val = evaluate_vae(model, data["x_val"], data["y_val"], beta, batch_size)
    return {"train_loss": total / n, **val, "score": -val["val_loss"]}


@torch.no_grad()
def evaluate_vae(model: DeblenderVAE, inputs: Tensor, targets: Tensor, beta: float, batch_size: int) -> dict[str, float]:
    """Mean validation loss, MSE and KL per image, decoding ``z = μ``."""
    model.eval()
    sums = np.zeros(3)
    for idx in _batches(len(inputs), batch_size, None):
        mu, log_var = model.encode(inputs[idx])
        loss, mse, kl = beta_vae_loss(model.decode(mu), targets[idx], mu, log_var, beta)
        sums += [loss.sum().item(), mse.sum().item(), kl.sum().item()]
    sums /= len(inputs)
    return {"val_loss": float(sums[0]), "val_mse": float(sums[1]), "val_kl": float(sums[2])}


def _run(model: torch.nn.Module, parameters, settings: StageSettings, extra_settings: dict) -> TrainingRun:
    torch.manual_seed(settings.seed)
    return TrainingRun(
        model=model,
        optimizer=torch.optim.Adam(parameters, lr=settings.learning_rate),
        stopper=EarlyStopping(patience=settings.patience, min_delta=0.0),
        generator=torch.Generator().manual_seed(settings.seed),
        settings={**asdict(settings), **extra_settings},
    )


def _vae_data(x_train, y_train, x_val, y_val, device) -> dict[str, Tensor]:
    return {k: _tensor(v, device) for k, v in dict(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val).items()}


def train_stage1(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *,
    latent_dim: int, beta: float, settings: StageSettings, checkpoint_dir: str | os.PathLike,
    device: torch.device, progress: bool = True,
) -> tuple[DeblenderVAE, list[dict[str, float]]]:
    """Training 1: noisy isolated ``x`` → clean isolated ``y`` (normalised, ``(N, B, H, W)``)."""
    torch.manual_seed(settings.seed)
    model = DeblenderVAE(bands=x_train.shape[1], stamp_pixels=x_train.shape[-1], latent_dim=latent_dim)
    model.init_output_bias(float(np.mean(y_train)))
    model.to(device)
    run = _run(model, model.parameters(), settings, {"stage": 1, "beta": beta, "latent_dim": latent_dim})
    data = _vae_data(x_train, y_train, x_val, y_val, device)
    history = train(run, lambda r: _vae_epoch(r, data, beta, settings.batch_size), epochs=settings.epochs,
                    checkpoint_dir=checkpoint_dir, monitor="score", progress=progress, desc="training 1")
    return model, history


def train_stage2(
    vae1: DeblenderVAE, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *,
    beta: float, settings: StageSettings, checkpoint_dir: str | os.PathLike, device: torch.device, progress: bool = True,
) -> tuple[DeblenderVAE, list[dict[str, float]]]:
    """Training 2: a new encoder on noisy blends ``x`` → clean centre galaxies ``y``; decoder frozen."""
    torch.manual_seed(settings.seed)
    model = DeblenderVAE(**vae1.hyperparameters)
    model.decoder.load_state_dict(vae1.decoder.state_dict())
    model.freeze_decoder()
    model.to(device)
    run = _run(model, model.encoder.parameters(), settings, {"stage": 2, "beta": beta})
    data = _vae_data(x_train, y_train, x_val, y_val, device)
    history = train(run, lambda r: _vae_epoch(r, data, beta, settings.batch_size), epochs=settings.epochs,
                    checkpoint_dir=checkpoint_dir, monitor="score", progress=progress, desc="training 2")
    return model, history


@torch.no_grad()
def encode_means(model: DeblenderVAE, images: np.ndarray, batch_size: int, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """μ and log σ² of the encoder for normalised ``images``; ``(N, latent_dim)`` each."""
    model.eval().to(device)
    mus, log_vars = [], []
    for start in range(0, len(images), batch_size):
        mu, log_var = model.encode(_tensor(images[start : start + batch_size], device))
        mus.append(mu.cpu().numpy())
        log_vars.append(log_var.cpu().numpy())
    return np.concatenate(mus), np.concatenate(log_vars)


def _regressor_epoch(run: TrainingRun, data: dict[str, Tensor], batch_size: int) -> dict[str, float]:
    model = run.model
    model.train()
    total = 0.0
    n = len(data["x_train"])
    for idx in _batches(n, batch_size, run.generator):
        idx = idx.to(data["x_train"].device)
        loss = (model(data["x_train"][idx]) - data["y_train"][idx]).pow(2).mean()
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        total += loss.item() * len(idx)
    model.eval()
    with torch.no_grad():
        val = (model(data["x_val"]) - data["y_val"]).pow(2).mean().item()
    return {"train_loss": total / n, "val_loss": val, "score": -val}


def train_stage3(
    mu_train: np.ndarray, e_train: np.ndarray, mu_val: np.ndarray, e_val: np.ndarray, *,
    dropout: float, settings: StageSettings, checkpoint_dir: str | os.PathLike, device: torch.device, progress: bool = True,
) -> tuple[EllipticityRegressor, list[dict[str, float]]]:
    """Training 3: the regressor from the frozen training-2 μ to (e1, e2), MSE loss."""
    torch.manual_seed(settings.seed)
    model = EllipticityRegressor(latent_dim=mu_train.shape[1], dropout=dropout).to(device)
    run = _run(model, model.parameters(), settings, {"stage": 3, "dropout": dropout})
    data = _vae_data(mu_train, e_train, mu_val, e_val, device)
    history = train(run, lambda r: _regressor_epoch(r, data, settings.batch_size), epochs=settings.epochs,
                    checkpoint_dir=checkpoint_dir, monitor="score", progress=progress, desc="training 3")
    return model, history


def _flow_epoch(run: TrainingRun, data: dict[str, Tensor], batch_size: int) -> dict[str, float]:
    model = run.model
    model.train()
    total = 0.0
    n = len(data["z_train"])
    for idx in _batches(n, batch_size, run.generator):
        nll = -model.log_prob(data["z_train"][idx.to(data["z_train"].device)]).mean()
        run.optimizer.zero_grad(set_to_none=True)
        nll.backward()
        run.optimizer.step()
        total += nll.item() * len(idx)
    model.eval()
    with torch.no_grad():
        val = -model.log_prob(data["z_val"]).mean().item()
    return {"train_nll": total / n, "val_nll": val, "score": -val}


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
    data = {"z_train": _tensor(z_train, device), "z_val": _tensor(z_val, device)}
    history = train(run, lambda r: _flow_epoch(r, data, settings.batch_size), epochs=settings.epochs,
                    checkpoint_dir=checkpoint_dir, monitor="score", progress=progress, desc="latent flow")
    return model, history
