"""The memory benchmark runs (tiny scales) and prints its table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_bench_memory_prints_the_peak_rss_table(tmp_path):
    command = [sys.executable, str(REPO / "benchmarks" / "bench_memory.py"), "--rules", "merge_blends",
               "--scales", "1", "2", "--scratch", str(tmp_path / "scratch")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["rule", "scale", "entries", "peak"]
    rows = [line.split() for line in lines[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [("merge_blends", "1", "128"), ("merge_blends", "2", "256")]
    assert all(100 < float(r[3]) < 4000 for r in rows)  # MB
    assert not (tmp_path / "scratch").exists()  # the scratch folder is removed
