"""What the paper preset is, setting by setting: the preset's value beside the paper's.

Each paper system lists the settings its paper states, in its own module
(``chianese``, ``adam``, ``nguyen``, ``lanusse``; the galaxy samples the papers drew in
``galaxies``): a :class:`PaperSetting` names the configuration key, the paper's value
(in the units and form the key takes), where the paper states it, and, where the
preset's value differs or the paper can be read in more than one way, why.

``python -m galprior.paper_settings > docs/paper_settings.md`` writes the table from
these declarations and the resolved paper preset (``config/config.yaml`` then
``config/presets/paper.yaml``, over the schema defaults); a test checks that the file is
current and that no difference is left unexplained. A setting the code fixes rather than
the configuration (an architecture constant) is named ``module:NAME`` and read from there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PaperSetting", "SYSTEMS", "all_settings", "config_value", "is_same",
           "paper_config", "settings_markdown"]

ROOT = Path(__file__).resolve().parents[3]
PRESET_FILES = (ROOT / "config" / "config.yaml", ROOT / "config" / "presets" / "paper.yaml")


@dataclass(frozen=True)
class PaperSetting:
    """One setting a paper states, and the configuration key that holds it.

    Attributes:
        key: dotted configuration path, e.g. ``"chianese.vae.training.lr"``, or
            ``"galprior.module:NAME"`` for a constant the code fixes.
        paper: the paper's value, in the form and units the key takes.
        source: where the paper states it ("sec. 2.2", "Table 1", "eq. 10", "App. B").
        why: empty when the preset holds the paper's value and the paper is unambiguous;
            otherwise why the preset differs, or how an ambiguous text was read (and
            which value gives the other reading).
    """

    key: str
    paper: Any
    source: str
    why: str = ""


def _system_modules() -> dict[str, Any]:
    from . import adam, chianese, galaxies, lanusse, nguyen

    return {"galaxies": galaxies, "chianese": chianese, "adam": adam, "nguyen": nguyen,
            "lanusse": lanusse}


SYSTEMS = {"galaxies": "Galaxy samples (COSMOS)", "chianese": "Chianese et al. 2020",
           "adam": "Adam et al. 2022", "nguyen": "Nguyen 2025", "lanusse": "Lanusse et al. 2021"}


def all_settings() -> dict[str, tuple[PaperSetting, ...]]:
    """Every system's declared settings, in the order of :data:`SYSTEMS`."""
    modules = _system_modules()
    return {name: tuple(modules[name].SETTINGS) for name in SYSTEMS}


def paper_config(files: Iterable[str | Path] = PRESET_FILES) -> dict[str, Any]:
    """The configuration the paper preset resolves to (schema defaults, then ``files``)."""
    from galprior.config import load_config

    return load_config(*files, check=False)


_MISSING = object()


def config_value(config: dict[str, Any], key: str) -> Any:
    """The value at dotted ``key`` (or the constant ``module:NAME``); KeyError naming the
    first missing part."""
    if ":" in key:
        import importlib

        module, name = key.split(":")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as err:
            raise KeyError(f"paper setting {key!r}: {err}") from err
    value: Any = config
    for i, part in enumerate(key.split(".")):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"paper setting {key!r}: the configuration has no "
                           f"{'.'.join(key.split('.')[:i + 1])!r}")
        value = value[part]
    return value


def is_same(ours: Any, paper: Any) -> bool:
    """Equal values: numbers to a relative 1e-9, sequences and mappings element by element."""
    if isinstance(ours, bool) or isinstance(paper, bool):
        return ours is paper or ours == paper
    if isinstance(ours, (int, float)) and isinstance(paper, (int, float)):
        return math.isclose(float(ours), float(paper), rel_tol=1e-9, abs_tol=0.0)
    if isinstance(ours, (list, tuple)) and isinstance(paper, (list, tuple)):
        ours, paper = list(ours), list(paper)
        return len(ours) == len(paper) and all(is_same(a, b) for a, b in zip(ours, paper))
    if isinstance(ours, dict) and isinstance(paper, dict):
        return ours.keys() == paper.keys() and all(is_same(ours[k], paper[k]) for k in ours)
    return ours == paper


def _cell(value: Any) -> str:
    """A value as the configuration writes it (JSON: null, true, lists, mappings)."""
    import json

    if isinstance(value, tuple):
        value = list(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return "`" + text.replace("|", "\\|") + "`"


def settings_markdown(config: dict[str, Any] | None = None) -> str:
    """The table of every declared setting against ``config`` (default: the paper preset)."""
    config = paper_config() if config is None else config
    lines = ["# The paper preset against the papers", "",
             "Generated by `python -m galprior.paper_settings` from the declarations in "
             "`src/galprior/paper_settings/` and the resolved paper preset "
             "(`config/config.yaml`, then `config/presets/paper.yaml`); do not edit.", "",
             "*same*: the preset holds the paper's value and the paper is unambiguous. "
             "Otherwise the last column says why the preset differs, or how an ambiguous "
             "text was read and which value gives the other reading.", ""]
    for name, settings in all_settings().items():
        lines += [f"## {SYSTEMS[name]}", "",
                  "| key | paper preset | paper | where | same, or why not |",
                  "|---|---|---|---|---|"]
        for s in settings:
            ours = config_value(config, s.key)
            verdict = s.why if s.why else ("same" if is_same(ours, s.paper) else "**UNEXPLAINED**")
            if s.why and is_same(ours, s.paper):
                verdict = "same; " + s.why
            lines.append(f"| `{s.key}` | {_cell(ours)} | {_cell(s.paper)} | {s.source} | "
                         f"{verdict.replace('|', chr(92) + '|')} |")
        lines.append("")
    return "\n".join(lines)
