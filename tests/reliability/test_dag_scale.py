"""Loads that grow: the paper preset's DAG with 1,000 galaxy shards and 1,000 mock systems.

``snakemake -n`` must build it (docs/development.md states the time, measured by
``benchmarks/bench_dag.py``), and every shard must be an independent job: asking for
one shard schedules that shard alone (plus the download it reads), so a cluster can run
them side by side.
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
SCALE = {"galaxies": {"n_shards": 1000}, "chianese": {"mocks": {"n_systems": 1000}},
         "adam": {"mocks": {"n_systems": 1000}}}
CPU_LIMIT_S = 30  # the bound on the DAG build (CPU time: the wall time depends on the load)


def dry_run(workdir: Path, *targets: str) -> tuple[str, float, float]:
    """``snakemake -n`` of the paper preset at scale: output, wall and CPU seconds."""
    overlay = workdir / "scale.yaml"
    overlay.write_text(yaml.safe_dump(SCALE))
    command = [str(SNAKEMAKE), *targets, "-n", "--snakefile", str(REPO / "Snakefile"),
               "--directory", str(workdir),
               "--configfile", str(REPO / "config" / "presets" / "paper.yaml"), str(overlay)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result.stdout + result.stderr, wall, cpu


def job_counts(output: str) -> dict[str, int]:
    table = output.split("job ", 1)[1].split("Reasons", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


@pytest.mark.workflow
def test_paper_dag_with_1000_shards_and_1000_systems_builds(tmp_path, paper_inputs):
    paper_inputs(tmp_path)
    output, wall, cpu = dry_run(tmp_path)
    counts = job_counts(output)
    assert counts["prepare_galaxies"] == 2000  # 1000 shards x 2 products
    assert counts["split_galaxies"] == 2 and counts["download_cosmos"] == 2  # 23.5 and 25.2
    assert cpu <= CPU_LIMIT_S, f"the DAG took {cpu:.1f} s of CPU ({wall:.1f} s wall)"
    (tmp_path / "timing.txt").write_text(f"wall {wall:.1f} s, CPU {cpu:.1f} s, {counts['total']} jobs\n")


@pytest.mark.workflow
def test_one_galaxy_shard_is_an_independent_job(tmp_path, paper_inputs):
    paper_inputs(tmp_path)
    output, _, _ = dry_run(tmp_path, "results/galaxies/cosmos/chianese/shards/737.zarr")
    counts = job_counts(output)
    assert counts == {"download_cosmos": 1, "prepare_galaxies": 1, "total": 2}
