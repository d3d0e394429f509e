# Shared helpers of the stages (paths, resources, the targets of the workflow).
import os
from pathlib import Path

from galprior.config import config_hash as settings_hash
from galprior.config import cosmos_options, galaxy_sources, split_sizes

# Jobs import the package from this checkout (src/), so a conda environment from
# envs/ needs only the third-party dependencies and always runs this version.
_SRC = str(Path(workflow.basedir) / "src")
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)
)

RESULTS = config["output_dir"]
PAPERS = {"chianese": "Chianese et al. 2020", "lanusse": "Lanusse et al. 2021"}
SPLITS = ["train", "val", "test"]
GALAXY_SOURCE = config["galaxies"]["source"]


def galaxy_store(product, split, source=GALAXY_SOURCE):
    """Path of one galaxy split store."""
    return f"{RESULTS}/galaxies/{source}/{product}/{split}.zarr"


def cosmos_input(wildcards):
    """The COSMOS folder as a rule input when the workflow downloads it."""
    cosmos = config["galaxies"]["cosmos"]
    return [cosmos["directory"]] if wildcards.source == "cosmos" and cosmos["download"] else []


def rule_resources(rule_name):
    """Resources of a rule from config['resources'] (defaults, then per-rule values)."""
    res = dict(config["resources"]["default"])
    res.update(config["resources"].get(rule_name, {}))
    return res


def all_targets():
    targets = []
    for source in galaxy_sources(config):
        for product in config["galaxies"]["products"]:
            targets += [galaxy_store(product, split, source) for split in SPLITS]
            targets.append(f"{RESULTS}/figures/galaxies/{source}_{product}.png")
    targets += [
        f"{RESULTS}/tables/provenance.yaml",
        f"{RESULTS}/figures/chianese/mock_lenses.png",
        f"{RESULTS}/tables/chianese/table1_snr.csv",
        f"{RESULTS}/figures/adam/mock_lenses.png",
        f"{RESULTS}/models/vae/latent_prior.npz",
        f"{RESULTS}/figures/chianese/vae_loss.png",
        f"{RESULTS}/figures/chianese/fig2_reconstructions.png",
        f"{RESULTS}/figures/chianese/fig3_rotation_test.png",
        f"{RESULTS}/tables/chianese/lens_recovery.csv",
        f"{RESULTS}/figures/chianese/map_loss_traces.png",
    ]
    systems = config["inference"]["hmc"]["systems"]
    targets += [f"{RESULTS}/figures/chianese/fig6_7_fit_system{s}.png" for s in systems]
    targets += [f"{RESULTS}/figures/chianese/fig8_9_corner_system{s}.png" for s in systems]
    return targets
