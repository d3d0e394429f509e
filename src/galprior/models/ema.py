"""Exponential moving average of a model's weights (NCSN++ trains with EMA 0.999).

Used by the score prior (Adam et al. 2022) and, as an option, the Flow-VAE.

Why our own code: ten lines, and its state must go into our training checkpoints (the
``torch-ema`` package would be one more dependency for the same ten lines).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    """shadow <- decay * shadow + (1 - decay) * weights, after every optimiser step.

    ``decay`` is warmed up as min(decay, (1 + n) / (10 + n)) over the first updates n, so
    that a short run is not dominated by the random initial weights.
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.n_updates = 0
        self.shadow = copy.deepcopy(model).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = min(self.decay, (1 + self.n_updates) / (10 + self.n_updates))
        for s, p in zip(self.shadow.parameters(), model.parameters()):
            s.lerp_(p.detach(), 1.0 - decay)
        for s, b in zip(self.shadow.buffers(), model.buffers()):
            s.copy_(b)
        self.n_updates += 1

    def state_dict(self) -> dict:
        return {"decay": self.decay, "n_updates": self.n_updates, "shadow": self.shadow.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.decay = state["decay"]
        self.n_updates = state["n_updates"]
        self.shadow.load_state_dict(state["shadow"])
