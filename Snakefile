# galprior: deep generative galaxy priors for strong lensing and deblending.
# Table of contents only: configuration, validation, stages, and the targets.
import os
import sys

from snakemake.utils import min_version, validate

sys.path.insert(0, os.path.join(workflow.basedir, "src"))  # the package of this checkout
from galprior.config import check_config

min_version("9.0")


# The quick default, found beside this file; presets (--configfile) are loaded over it.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


validate(config, "workflow/schemas/config.schema.yaml")
check_config(config)


report: "workflow/report/workflow.rst"



include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/lenses.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/inference.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/figures.smk"


rule all:
    input:
        all_targets(),
    default_target: True
