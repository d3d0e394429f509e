"""Where tensors live: the ``device`` option of the configuration (``cpu | cuda | auto``).

Training (VAE and the other model families), MAP, HMC, SDE sampling and the benchmarks
call :func:`resolve_device` once and move their model and data there. ``cuda`` without a
visible CUDA device is an error that says so; ``auto`` falls back to the CPU and logs it.
"""

from __future__ import annotations

import logging

import torch

__all__ = ["DEVICES", "DeviceError", "resolve_device"]

logger = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")


class DeviceError(RuntimeError):
    """The configured device cannot be used on this machine."""


def resolve_device(name: str) -> torch.device:
    """The ``torch.device`` for the config value ``name`` (``cpu``, ``cuda`` or ``auto``)."""
    if name not in DEVICES:
        raise DeviceError(f"device: {name!r} is not one of {DEVICES}")
    available = torch.cuda.is_available()
    if name == "cuda" and not available:
        raise DeviceError(
            "device: cuda, but no CUDA device is visible on this machine "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); "
            "set device: cpu or auto, or run on a GPU node"
        )
    if name == "auto":
        chosen = torch.device("cuda" if available else "cpu")
        if available:
            logger.info("device: auto -> cuda (%s)", torch.cuda.get_device_name(0))
        else:
            logger.info("device: auto -> cpu (no CUDA device visible)")
        return chosen
    return torch.device(name)
