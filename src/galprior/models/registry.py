"""Every trained model of the project, by family name: save and load under fixed file names.

A model family is an ``nn.Module`` class decorated with ``@register_model("name")`` that
exposes ``hyperparameters`` (its constructor arguments). An exported model is a folder
holding ``weights.pt`` (the ``state_dict``) and ``hyperparameters.json`` beside it (the
constructor arguments, plus ``"model"``, the family name, and ``"galprior_version"``),
both fixed names that are rule outputs. :func:`load_model` reads the family name and
rebuilds the right class, so one loader serves the VAE, the score model, the deblender
and the Flow-VAE. Files are written with the one atomic-write helper of the store layer.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from galprior import __version__
from galprior.store.atomic import atomic_json_save, atomic_write

__all__ = ["MODELS", "register_model", "save_model", "load_model", "read_hyperparameters",
           "atomic_torch_save", "WEIGHTS_FILE", "HYPERPARAMETERS_FILE"]

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.pt"
HYPERPARAMETERS_FILE = "hyperparameters.json"

#: family name -> model class
MODELS: dict[str, type[nn.Module]] = {}


def register_model(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: make ``cls`` loadable by :func:`load_model` under ``name``."""
    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        if name in MODELS and MODELS[name] is not cls:
            raise ValueError(f"model family {name!r} is registered twice "
                             f"({MODELS[name].__qualname__} and {cls.__qualname__})")
        MODELS[name] = cls
        cls.MODEL_NAME = name
        return cls
    return decorate


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def save_model(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Write ``directory/weights.pt`` and ``directory/hyperparameters.json``; returns the folder."""
    name = getattr(type(model), "MODEL_NAME", None)
    if name not in MODELS:
        raise TypeError(f"{type(model).__qualname__} is not a registered model family "
                        "(decorate it with @register_model)")
    directory = Path(directory)
    state = {key: tensor.detach().cpu() for key, tensor in model.state_dict().items()}
    atomic_torch_save(state, directory / WEIGHTS_FILE)
    atomic_json_save({"model": name, "galprior_version": __version__, **model.hyperparameters},
                     directory / HYPERPARAMETERS_FILE)
    logger.info("saved %s model to %s", name, directory)
    return directory


def _argument_names(cls: type) -> set[str]:
    return {n for n in inspect.signature(cls.__init__).parameters if n != "self"}


def read_hyperparameters(directory: str | os.PathLike, family: str | None = None) -> tuple[str, dict[str, Any]]:
    """The family name and constructor arguments in ``directory/hyperparameters.json``.

    Raises ``FileNotFoundError`` when the file is missing and ``ValueError`` when it names
    an unknown family (or not ``family``), lacks a constructor argument or has an unknown one.
    """
    path = Path(directory) / HYPERPARAMETERS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"model hyper-parameters not found: {path}")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    name = meta.get("model")
    if name not in MODELS:
        raise ValueError(f"{path} names model family {name!r}; known families: {sorted(MODELS)}")
    if family is not None and name != family:
        raise ValueError(f"{path} describes a {name!r} model, expected {family!r}")
    hyperparameters = {k: v for k, v in meta.items() if k not in ("model", "galprior_version")}
    expected = _argument_names(MODELS[name])
    missing = sorted(expected - set(hyperparameters))
    unknown = sorted(set(hyperparameters) - expected)
    if missing or unknown:
        raise ValueError(f"{path}: missing keys {missing}, unknown keys {unknown}")
    return name, hyperparameters


def load_model(directory: str | os.PathLike, family: str | None = None,
               map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the model saved by :func:`save_model` in ``directory``, in eval mode."""
    name, hyperparameters = read_hyperparameters(directory, family)
    weights_path = Path(directory) / WEIGHTS_FILE
    if not weights_path.is_file():
        raise FileNotFoundError(f"model weights not found: {weights_path}")
    model = MODELS[name](**hyperparameters)
    try:
        state = torch.load(weights_path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated or foreign file
        raise ValueError(f"{weights_path} is not a readable weights file: {err}") from err
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{weights_path} does not fit the {name!r} architecture of "
                         f"{Path(directory) / HYPERPARAMETERS_FILE}: {err}") from err
    return model.eval()
