# galprior: deep generative galaxy priors for strong lensing and deblending.
# Table of contents only: configuration, validation, the shared stages, one rules file
# per paper system, and the targets.
import os
import sys

from snakemake.utils import min_version, validate

sys.path.insert(0, os.path.join(workflow.basedir, "src"))  # the package of this checkout
from galprior.config import check_config, check_device, check_resources

min_version("9.0")


# The quick default, found beside this file; presets (--configfile) are loaded over it.
configfile: os.path.join(workflow.basedir, "config", "config.yaml")


validate(config, "workflow/schemas/config.schema.yaml")
check_config(config)
check_device(config, workflow)


report: "workflow/report/workflow.rst"


# shared stages
include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/provenance.smk"
# one file per paper system
include: "workflow/rules/chianese.smk"
include: "workflow/rules/adam.smk"
include: "workflow/rules/nguyen.smk"
include: "workflow/rules/lanusse.smk"
# what the systems that ran reached, against their papers
include: "workflow/rules/scorecard.smk"


check_resources(config, [r.name for r in workflow.rules])


rule all:
    input:
        all_targets(),
    default_target: True
