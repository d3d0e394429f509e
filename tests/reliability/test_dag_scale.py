"""Loads that grow: the paper preset's DAG with 1,000 galaxy shards and 1,000 mock systems.

``snakemake -n`` must build it with one job per shard, and every shard must be an
independent job: asking for one shard schedules that shard alone (plus the download it
reads), so a cluster can run them side by side. How long the build takes is a
measurement, not a test (a bound on it fails on a loaded machine and passes a slow
change on a fast one): ``benchmarks/bench_dag.py`` measures it and docs/development.md states it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
# every mock system lenses its own test galaxy (a start-up check): 1000 test galaxies
SCALE = {"galaxies": {"n_shards": 1000, "split_sizes": {"chianese": {"train": 15500, "val": 1543, "test": 1000}}},
         "chianese": {"mocks": {"n_systems": 1000}},
         "adam": {"mocks": {"n_systems": 1000}, "probes": {"split_sizes": {"test": 1000}}}}


def dry_run(workdir: Path, *targets: str) -> str:
    """``snakemake -n`` of the paper preset at scale: its output."""
    overlay = workdir / "scale.yaml"
    overlay.write_text(yaml.safe_dump(SCALE))
    command = [str(SNAKEMAKE), *targets, "-n", "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(workdir),
               "--configfile", str(REPO / "config" / "presets" / "paper.yaml"), str(overlay)]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout + result.stderr


def job_counts(output: str) -> dict[str, int]:
    table = output.split("job ", 1)[1].split("Reasons", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


@pytest.mark.workflow
def test_paper_dag_with_1000_shards_and_1000_systems_builds(tmp_path, paper_inputs):
    paper_inputs(tmp_path)
    counts = job_counts(dry_run(tmp_path))
    assert counts["prepare_galaxies"] == 2000  # 1000 shards x 2 products
    assert counts["split_galaxies"] == 2 and counts["download_cosmos"] == 2  # 23.5 and 25.2
    assert counts["make_mock_lenses"] == 1 and counts["make_score_lenses"] == 1  # 1000 systems each, one store


@pytest.mark.workflow
def test_one_galaxy_shard_is_an_independent_job(tmp_path, paper_inputs):
    paper_inputs(tmp_path)
    counts = job_counts(dry_run(tmp_path, "results/galaxies/cosmos/chianese/shards/737.zarr"))
    assert counts == {"download_cosmos": 1, "prepare_galaxies": 1, "total": 2}
