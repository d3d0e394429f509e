"""Time `snakemake -n` of the paper preset as the galaxy shards and mock systems grow.

The peer is the same preset at its own size (16 shards, 8 mock systems): the ratio says
how the DAG build grows with the number of jobs. Wall and CPU seconds are printed (on a
loaded machine the wall time is mostly waiting for a core).

    .venv/bin/python benchmarks/bench_dag.py --shards 1000 --systems 1000
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def dry_run(shards: int | None, systems: int | None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and job count of one `snakemake -n`."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        overlay = workdir / "scale.yaml"
        scale = {}
        if shards:
            scale["galaxies"] = {"n_shards": shards}
        if systems:
            scale.update(chianese={"mocks": {"n_systems": systems}},
                         adam={"mocks": {"n_systems": systems},
                               "probes": {"split_sizes": {"test": max(systems, 32)}}})
            # each mock system lenses its own test galaxy (a start-up check)
            scale.setdefault("galaxies", {})["split_sizes"] = {
                "chianese": {"train": 15500, "val": 1543, "test": max(500, systems)}}
        overlay.write_text(yaml.safe_dump(scale))
        # empty stand-ins for the user's own inputs of the paper preset (not read by -n)
        (workdir / "resources" / "des" / "cutouts").mkdir(parents=True)
        (workdir / "resources" / "PROBES").mkdir()
        for name in ("OneDegSq.fits", "des/im3shape_sva1.fits", "PROBES/PROBES_0000_g.fits"):
            (workdir / "resources" / name).touch()
        command = [str(SNAKEMAKE), "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
                   "--configfile", str(REPO / "config" / "presets" / "paper.yaml"), str(overlay)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = int(re.search(r"^total\s+(\d+)$", result.stdout, re.MULTILINE).group(1))
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=1000)
    parser.add_argument("--systems", type=int, default=1000)
    args = parser.parse_args()
    peer = dry_run(None, None)
    ours = dry_run(args.shards, args.systems)
    print("== bench_dag ==")
    print(f"paper preset as shipped: {peer[2]} jobs, {peer[0]:.1f} s wall, {peer[1]:.1f} s CPU")
    print(f"{args.shards} shards, {args.systems} systems: {ours[2]} jobs, {ours[0]:.1f} s wall, "
          f"{ours[1]:.1f} s CPU")
    print(f"ratio: {ours[2] / peer[2]:.1f}x the jobs, {ours[1] / peer[1]:.2f}x the CPU time")


if __name__ == "__main__":
    main()
