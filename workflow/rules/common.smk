# Shared helpers of the rule files: output paths and the targets of `rule all`.
import os
from pathlib import Path

# Jobs import the package from this checkout (src/), so a conda environment from
# envs/ needs only the third-party dependencies and always runs this version.
_SRC = str(Path(workflow.basedir) / "src")
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_SRC, os.environ.get("PYTHONPATH", "")) if p
)

RESULTS = config["output_dir"]
SPLITS = ["train", "val", "test"]
GALAXY_SOURCE = config["galaxies"]["source"]


def galaxy_store(product, split, source=GALAXY_SOURCE):
    """Path of one galaxy split store."""
    return f"{RESULTS}/galaxies/{source}/{product}/{split}.zarr"


def log_path(rule_name, name="all"):
    return f"{RESULTS}/logs/{rule_name}/{name}.log"


def benchmark_path(rule_name, name="all"):
    return f"{RESULTS}/benchmarks/{rule_name}/{name}.tsv"


def rule_resources(rule_name):
    """Resources of a rule from config['resources'] (defaults, then per-rule values)."""
    res = dict(config["resources"]["default"])
    res.update(config["resources"].get(rule_name, {}))
    return res


def all_targets():
    targets = []
    for source in [GALAXY_SOURCE] + config["galaxies"]["extra_sources"]:
        for product in config["galaxies"]["products"]:
            targets += [galaxy_store(product, split, source) for split in SPLITS]
            targets.append(f"{RESULTS}/figures/galaxies/{source}_{product}.png")
    return targets
