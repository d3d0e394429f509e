"""Checks of a workflow configuration that a JSON schema cannot express.

The schema (``workflow/schemas/config.schema.yaml``) fixes keys, types and defaults;
:func:`check_config` then checks what depends on the file system or on several keys
at once, so that the run stops at start-up with a message naming the key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


DOWNLOAD_NAME = "COSMOS_25.2_training_sample"


def config_hash(*configs: Any) -> str:
    """Short stable hash of configuration values (sorted JSON, SHA-256, 16 hex digits)."""
    text = json.dumps(configs[0] if len(configs) == 1 else list(configs), sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key."""


def galaxy_sources(config: dict[str, Any]) -> list[str]:
    """Every galaxy source the configuration prepares (main source first)."""
    galaxies = config["galaxies"]
    return list(dict.fromkeys([galaxies["source"], *galaxies["extra_sources"]]))


def check_cosmos(cosmos: dict[str, Any]) -> None:
    """The COSMOS directory and catalogue exist (unless the workflow downloads them)."""
    if cosmos["download"]:
        if cosmos["directory"] is None or Path(cosmos["directory"]).name != DOWNLOAD_NAME:
            raise ConfigError(
                f"galaxies.cosmos.directory: {cosmos['directory']} must end in "
                f"{DOWNLOAD_NAME} when galaxies.cosmos.download is true (that is the "
                "folder galsim_download_cosmos -s 25.2 unpacks)"
            )
        return
    directory = cosmos["directory"]
    if directory is None:
        raise ConfigError(
            "galaxies.cosmos.directory is null, but a galaxy source is 'cosmos': set it "
            "to a GalSim COSMOS folder (galsim_download_cosmos -s 25.2) or set "
            "galaxies.cosmos.download: true"
        )
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"galaxies.cosmos.directory: {directory} is not a directory; expected a "
            "GalSim COSMOS folder (galsim_download_cosmos -s 25.2 -d resources/)"
        )
    catalog = path / cosmos["catalogue_file"]
    if not catalog.is_file():
        raise ConfigError(
            f"galaxies.cosmos.catalogue_file: {catalog} does not exist; expected the "
            "RealGalaxyCatalog FITS file of the COSMOS folder"
        )


def cosmos_options(config: dict[str, Any]) -> dict[str, Any]:
    """Options of the COSMOS reader (the workflow's own keys removed)."""
    return {k: v for k, v in config["galaxies"]["cosmos"].items()
            if k not in ("download", "split_sizes")}


def split_sizes(config: dict[str, Any], source: str, product: str) -> dict[str, int | None]:
    """Split sizes of one source and product (COSMOS may override the common ones)."""
    override = config["galaxies"]["cosmos"]["split_sizes"] if source == "cosmos" else None
    return (override or config["galaxies"]["split_sizes"])[product]


def check_config(config: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the first key whose value cannot work."""
    if "cosmos" in galaxy_sources(config):
        check_cosmos(config["galaxies"]["cosmos"])
    image_size = config["vae"]["architecture"]["image_size"]
    output_size = config["galaxies"]["chianese"]["output_size"]
    if image_size != output_size:
        raise ConfigError(
            f"vae.architecture.image_size ({image_size}) must equal "
            f"galaxies.chianese.output_size ({output_size}): the VAE learns those images"
        )
    for system in config["inference"]["hmc"]["systems"]:
        if system >= config["lenses"]["chianese"]["n_systems"]:
            raise ConfigError(
                f"inference.hmc.systems: system {system} does not exist; "
                f"lenses.chianese.n_systems is {config['lenses']['chianese']['n_systems']}"
            )
