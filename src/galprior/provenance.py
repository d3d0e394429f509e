"""Provenance of a workflow run: package versions and the configuration used."""

from __future__ import annotations

import datetime
import platform
from importlib import metadata
from typing import Any

from galprior import __version__
from galprior.store import config_hash

PACKAGES = ("torch", "pyro-ppl", "galsim", "blending-toolkit", "numpy", "zarr", "snakemake")


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of the main dependencies ('not installed' when absent)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run_provenance(config: dict[str, Any]) -> dict[str, Any]:
    """The galprior version, dependency versions, platform and configuration."""
    return {
        "galprior_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "config_hash": config_hash(config),
        "config": config,
    }
