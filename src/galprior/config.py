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


DOWNLOAD_NAMES = ("COSMOS_25.2_training_sample", "COSMOS_23.5_training_sample")


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
        if cosmos["directory"] is None or Path(cosmos["directory"]).name not in DOWNLOAD_NAMES:
            raise ConfigError(
                f"galaxies.cosmos.directory: {cosmos['directory']} must end in one of "
                f"{DOWNLOAD_NAMES} when galaxies.cosmos.download is true (the folders of "
                "GalSim's 25.2 and 23.5 archives, which rule download_cosmos unpacks)"
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


#: Where the PROBES images come from, for the message of a missing folder.
PROBES_SOURCE = (
    "PROBES (Stone, Courteau & Arora 2021, ApJ 912, 41; the 2,059 galaxies Adam et al. 2022 train on) "
    "is not downloaded by this workflow: fetch the galaxies' DESI Legacy Surveys cut-outs, one FITS file "
    "per galaxy and band named <galaxy>_<band>.fits (512 x 512 pixels of 0.262\", layer ls-dr9, from "
    "https://www.legacysurvey.org/viewer/fits-cutout), e.g. with data/probes/get_probes.sh of "
    "https://github.com/Smith42/astroddpm (Smith et al. 2022), into that folder"
)


def _has_probes_files(directory: Path, band: str) -> bool:
    from galprior.data.probes import find_probes_files  # astropy only when the folder exists

    try:
        find_probes_files(directory, band)
    except (FileNotFoundError, ValueError):
        return False
    return True


def missing_inputs(config: dict[str, Any]) -> list[str]:
    """One message per input data set the configuration needs but this machine lacks: what it
    is, the configuration key that points to it and how to get it. Empty when all are there."""
    messages = []
    adam = config["adam"]
    if "adam" in config["systems"] and adam["training_product"] == "probes":
        directory, band = adam["probes"]["directory"], adam["probes"]["band"]
        if directory is None:
            messages.append(f"adam.probes.directory is null, but adam.training_product is probes: set it to "
                            f"a folder of PROBES cut-outs. {PROBES_SOURCE}.")
        elif not _has_probes_files(Path(directory).expanduser(), band):
            what = "is not a folder" if not Path(directory).expanduser().is_dir() else \
                f"holds no FITS file of band {band!r}"
            messages.append(f"adam.probes.directory: {directory} {what}, but adam.training_product is "
                            f"probes. {PROBES_SOURCE}.")
    return messages


def check_adam(adam: dict[str, Any]) -> None:
    """Sizes of the score prior that its network cannot take."""
    levels = len(adam["score_model"]["architecture"]["channel_multipliers"])
    if adam["source_size"] % 2 ** (levels - 1):
        raise ConfigError(
            f"adam.source_size ({adam['source_size']}) must be divisible by 2^{levels - 1}: "
            f"adam.score_model.architecture.channel_multipliers has {levels} resolutions, each half the last"
        )


def check_config(config: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the first key whose value cannot work, or every
    missing input data set (:func:`missing_inputs`)."""
    missing = missing_inputs(config)
    if missing:
        raise ConfigError("\n".join(missing))
    if "cosmos" in galaxy_sources(config):
        check_cosmos(config["galaxies"]["cosmos"])
    check_adam(config["adam"])
    chianese = config["chianese"]
    image_size = chianese["vae"]["architecture"]["image_size"]
    output_size = config["galaxies"]["chianese"]["output_size"]
    if image_size != output_size:
        raise ConfigError(
            f"chianese.vae.architecture.image_size ({image_size}) must equal "
            f"galaxies.chianese.output_size ({output_size}): the VAE learns those images"
        )
    for system in chianese["hmc"]["systems"]:
        if system >= chianese["mocks"]["n_systems"]:
            raise ConfigError(
                f"chianese.hmc.systems: system {system} does not exist; "
                f"chianese.mocks.n_systems is {chianese['mocks']['n_systems']}"
            )


def check_resources(config: dict[str, Any], rule_names: list[str]) -> None:
    """Every key of ``resources`` but ``default`` names a rule of the workflow."""
    unknown = sorted(set(config["resources"]) - {"default"} - set(rule_names))
    if unknown:
        raise ConfigError(
            f"resources: {unknown} name no rule of this workflow; rules are "
            f"{sorted(rule_names)}"
        )


SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def _defaults(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """The default value a (sub-)schema gives, with the defaults of its properties filled in."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = {**root["$defs"][name], **{k: v for k, v in schema.items() if k != "$ref"}}
    value = schema.get("default")
    if isinstance(value, dict) and "properties" in schema:
        value = dict(value)
        for key, sub in schema["properties"].items():
            if key not in value:
                default = _defaults(sub, root)
                if default is not None or "default" in sub:
                    value[key] = default
    return value


def schema_defaults(schema_path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """The configuration the schema gives when every key is left out (the one home of
    every default: code, tests and benchmarks read defaults from here)."""
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    return _defaults({**schema, "default": {}}, schema)


def check_device(config: dict[str, Any], workflow: Any) -> None:
    """``device: cuda`` without a visible CUDA device stops a local run at start-up.

    Runs only in the main process of a local run: jobs submitted to a cluster check on
    their node (:func:`galprior.device.resolve_device`), where the GPU is.
    """
    if config["device"] != "cuda" or not (workflow.is_main_process and workflow.local_exec):
        return
    from galprior.device import DeviceError, resolve_device  # torch only when needed

    try:
        resolve_device("cuda")
    except DeviceError as err:
        raise ConfigError(str(err)) from err


def _overlay(base: Any, override: Any) -> Any:
    """``override`` on ``base``: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{key: _overlay(base.get(key), value) for key, value in override.items()}}
    return override


def load_config(*config_files: str | Path, schema_path: str | Path = SCHEMA_PATH,
                check: bool = True) -> dict[str, Any]:
    """The configuration a workflow run with ``--configfile`` ``config_files`` (in order)
    sees: each file overlaid on the schema defaults, validated against the schema and
    :func:`check_config` as the Snakefile does, for scripts outside Snakemake
    (benchmarks). A missing file, a file that is not a mapping, or a key or value the
    schema refuses (a misspelt key too) is refused by name. ``check=False`` skips
    :func:`check_config` (what depends on files that may not be on this machine)."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    config = schema_defaults(schema_path)
    for path in config_files:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"config file {path}: expected a mapping of keys, got {type(loaded).__name__}")
        config = _overlay(config, loaded)
    error = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(config))
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise ConfigError(f"config files {[str(p) for p in config_files]}: {where}: {error.message}")
    if check:
        check_config(config)
    return config
