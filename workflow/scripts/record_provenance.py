"""Write the package versions and the full configuration of this run as YAML."""

import yaml

from galprior.logs import setup_logging

setup_logging(snakemake.log[0])

from galprior.provenance import run_provenance  # noqa: E402

with open(snakemake.output.provenance, "w") as out:
    yaml.safe_dump(run_provenance(dict(snakemake.params.config)), out, sort_keys=False)
