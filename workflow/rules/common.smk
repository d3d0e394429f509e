# Shared helpers of every rules file: paths, resources, and the targets of `rule all`.
# Every path of the workflow is built here or from `out()` in one table per system file.
import os
from pathlib import Path

from galprior.store import config_hash
from galprior.config import cosmos_download_dirs, cosmos_options, galaxy_sources, split_sizes

# Jobs import the package from this checkout (src/), so a conda environment from
# envs/ needs only the third-party dependencies and always runs this version.
_SRC = str(Path(workflow.basedir) / "src")
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)
)

RESULTS = config["output_dir"]
PAPERS = {"chianese": "Chianese et al. 2020", "adam": "Adam et al. 2022",
          "nguyen": "Nguyen 2025", "lanusse": "Lanusse et al. 2021"}
SPLITS = ["train", "val", "test"]
GALAXY_SOURCE = config["galaxies"]["source"]
# which paper system each galaxy product serves (for the report's categories)
PRODUCT_PAPER = {"chianese": PAPERS["chianese"], "lanusse": PAPERS["lanusse"]}


def out(*parts):
    """A path under the output folder (``output_dir``); parts may hold {wildcards}."""
    return os.path.join(RESULTS, *parts)


def log_path(rule_name, name="all"):
    """The log file of one job of a rule."""
    return out("logs", rule_name, f"{name}.log")


def bench_path(rule_name, name="all"):
    """Snakemake's benchmark file (run time, memory) of one job of a rule."""
    return out("benchmarks", rule_name, f"{name}.tsv")


def checkpoint_dir(name, *settings):
    """The checkpoint folder of one training job: ``name`` and a hash of the master seed and
    of everything else that shapes the trained model (``settings``). A run with another seed
    or other settings starts in its own folder instead of resuming (or, where the checkpoint
    records its settings, refusing) the other run's checkpoint; ``name`` may hold {wildcards}."""
    return out("checkpoints", f"{name}-{config_hash(config['seed'], *settings)}")


def galaxy_store(product, split, source=GALAXY_SOURCE):
    """Path of one galaxy split store."""
    return out("galaxies", source, product, f"{split}.zarr")


def galaxy_shard(product, shard, source):
    """Path of one shard of a galaxy set, before the split."""
    return out("galaxies", source, product, "shards", f"{shard}.zarr")


def galaxy_figure(product, source):
    """Gallery figure of the test galaxies of one source and product."""
    return out("figures", "galaxies", f"{source}_{product}.png")


def cosmos_input(wildcards):
    """The product's COSMOS folder as a rule input when the workflow downloads it."""
    if wildcards.source != "cosmos":
        return []
    sample = config["galaxies"]["cosmos"][wildcards.product]
    return [sample["directory"]] if sample["download"] else []


def cosmos_download_pattern():
    """Regex of the folders that download_cosmos may make, exactly the configured downloads
    (a pattern that matches nothing when there are none)."""
    import re

    return "|".join(re.escape(folder) for folder in cosmos_download_dirs(config)) or "(?!)"


def rule_resources(rule_name):
    """Resources of a rule from config['resources'] (defaults, then per-rule values)."""
    res = dict(config["resources"]["default"])
    res.update(config["resources"].get(rule_name, {}))
    return res


def rule_threads(rule_name):
    """Threads of a rule: the CPUs its resources ask for (``cpus_per_task``), so that a job
    uses what it is given, locally and on SLURM. The quick default gives the long torch
    jobs one each: on 2 cores two of them then run side by side, where a second thread
    buys a job only 1.4-1.5x (docs/decisions.md)."""
    return rule_resources(rule_name)["cpus_per_task"]


# Targets of `rule all`, by paper system (each system's rules file adds its own).
TARGETS = {"shared": []}


def add_targets(system, paths):
    """Add final outputs of a paper system to `rule all`."""
    TARGETS.setdefault(system, []).extend(paths)


def all_targets():
    return [path for paths in TARGETS.values() for path in paths]


for _source in galaxy_sources(config):
    for _product in config["galaxies"]["products"]:
        add_targets("shared", [galaxy_store(_product, split, _source) for split in SPLITS])
        add_targets("shared", [galaxy_figure(_product, _source)])
