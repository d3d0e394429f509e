"""Fault injection: every rule of the CI preset killed with SIGKILL, the same command rerun.

The harness runs the whole CI preset in a fresh folder with a *fault plan*
(:mod:`galprior.store.faults`, armed through ``GALPRIOR_FAULT_PLAN``): for every rule,
one of its jobs (seeded choice) kills itself with SIGKILL at a seeded point -- a time
drawn in its running time (from the undisturbed run's Snakemake metadata), or inside the k-th
atomic write of the job (a store, a training checkpoint) with the temporary cut to half.
The Snakemake process itself is killed too (with its whole process group, as a lost
login node would be), then ``--unlock`` is run as docs/cluster.md says. After every round
the same command is run again, until it succeeds. Checked:

(a) the run completes (in at most ``MAX_ROUNDS`` reruns);
(b) after every round, no store or checkpoint at its final path is incomplete, no log
    shows a reader that met one, and every planned kill happened;
(c) the final outputs equal those of the undisturbed run of the session (the ``ci_run``
    fixture, reused: no second clean run): arrays bit for bit, table and figure files byte
    for byte, except what is measured rather than computed (``IGNORED_ARRAYS``, wall-time
    columns of CSV tables) and the store's ``created`` timestamp.

CI runs one kill per rule (``test_every_rule_killed_once_...``); the ``slow`` test kills
each rule at three points (``pytest -m slow tests/reliability``).
"""

from __future__ import annotations

import datetime
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

# Snakemake leaves a timestamp file inside directory outputs; zarr warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Object at .snakemake_timestamp")

REPO = Path(__file__).resolve().parents[2]
CI_PRESET = REPO / "config" / "presets" / "ci.yaml"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
MAX_ROUNDS = 40  # reruns of the same command before the test gives up (about the DAG depth per point)
ROUND_TIMEOUT = 1800  # s
SEED = 14
# Rules whose planned kill comes inside an atomic write, and which write (1-based):
# train_vae's 3rd write is a checkpoint of epoch 2 (best.pt or last.pt), so the rerun
# resumes from epoch 1's checkpoint; the others die inside a Zarr store write.
WRITE_FAULTS = {"train_vae": 3, "make_mock_lenses": 1, "split_galaxies": 2, "infer_map": 1}
# Arrays that hold measured quantities (seconds), not computed ones: never compared.
IGNORED_ARRAYS = {"wall_time"}
IGNORED_ATTRS = {"created"}  # when the store was written
NOT_OUTPUTS = ("logs", "benchmarks", "checkpoints")  # results/ folders that are not compared


def _job_logs(workdir: Path) -> dict[str, list[str]]:
    """Jobs of a finished run, by rule: ``<rule>/<name>`` from ``results/logs``."""
    jobs: dict[str, list[str]] = {}
    for log in sorted((workdir / "results" / "logs").glob("*/*.log")):
        jobs.setdefault(log.parent.name, []).append(f"{log.parent.name}/{log.stem}")
    return jobs


def _durations(workdir: Path) -> dict[str, float]:
    """Running time (s) of each job of a finished run, by job (``<rule>/<name>``).

    From Snakemake's metadata of its outputs (start and end time); jobs whose outputs
    were temporary (and so lost their metadata) get the time from their first log record
    to the log's last change.
    """
    durations = {}
    for record in (workdir / ".snakemake" / "metadata").glob("*"):
        try:
            meta = json.loads(record.read_text())
            log = Path(meta["log"][0])
            durations[f"{log.parent.name}/{log.stem}"] = meta["endtime"] - meta["starttime"]
        except (ValueError, KeyError, IndexError, TypeError):
            continue
    for log in (workdir / "results" / "logs").glob("*/*.log"):
        job = f"{log.parent.name}/{log.stem}"
        match = re.search(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})", log.read_text(), re.MULTILINE)
        if job not in durations and match is not None:
            start = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
            durations[job] = log.stat().st_mtime - start - int(match.group(2)) / 1000
    return durations


def fault_plan(reference: Path, points_per_rule: int, seed: int) -> dict[str, list[dict]]:
    """Kill points per job: one job per rule, ``points_per_rule`` points each.

    Times are drawn as ``u**2`` of the job's undisturbed running time (u uniform), so
    kills come early more often (cheap to redo) but reach the end of every job.
    """
    rng = random.Random(seed)
    durations = _durations(reference)
    plan = {}
    for rule, jobs in sorted(_job_logs(reference).items()):
        job = rng.choice(jobs)
        duration = max(durations.get(job, 1.0), 0.5)
        points = []
        for k in range(points_per_rule):
            if k == 0 and rule in WRITE_FAULTS:
                points.append({"at_write": WRITE_FAULTS[rule]})
            else:
                points.append({"after_s": round(rng.random() ** 2 * duration, 2)})
        plan[job] = points
    return plan


def incomplete_outputs(workdir: Path) -> list[str]:
    """Stores and checkpoints at their final paths that a reader must not accept."""
    import torch

    bad = []
    results = workdir / "results"
    for store in results.rglob("*.zarr"):
        if any(part.startswith(".") for part in store.relative_to(results).parts):
            continue  # a temporary of atomic_write: never read
        if store.parent.suffix == ".zarr":
            continue
        try:
            complete = zarr.open_group(str(store), mode="r").attrs.get("complete")
        except Exception as err:  # noqa: BLE001 - any unreadable store is a finding
            complete = f"unreadable: {err}"
        if complete is not True:
            bad.append(f"{store.relative_to(workdir)}: complete={complete!r}")
    for checkpoint in results.rglob("*.pt"):
        if checkpoint.name.startswith("."):
            continue
        try:
            torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001
            bad.append(f"{checkpoint.relative_to(workdir)}: {err}")
    return bad


def readers_that_met_incomplete_stores(workdir: Path) -> list[str]:
    """Logs in which a reader refused an incomplete store (it should never see one)."""
    return [str(log) for log in (workdir / "results" / "logs").rglob("*.log")
            if "is incomplete (no 'complete' attribute)" in log.read_text(errors="replace")]


def _outputs(workdir: Path) -> dict[str, Path]:
    """Output files and stores of a run, relative to results/ (temporaries aside)."""
    results = workdir / "results"
    found = {}
    for path in results.rglob("*"):
        relative = path.relative_to(results)
        if relative.parts[0] in NOT_OUTPUTS or any(p.startswith(".") for p in relative.parts):
            continue
        if path.suffix == ".zarr" and path.is_dir():
            found[str(relative)] = path
        elif path.is_file() and ".zarr" not in str(relative):
            found[str(relative)] = path
    return found


def _store_differences(a: Path, b: Path) -> list[str]:
    ga, gb = zarr.open_group(str(a), mode="r"), zarr.open_group(str(b), mode="r")
    diffs = []
    attrs_a = {k: v for k, v in ga.attrs.items() if k not in IGNORED_ATTRS}
    attrs_b = {k: v for k, v in gb.attrs.items() if k not in IGNORED_ATTRS}
    if attrs_a != attrs_b:
        keys = sorted(k for k in set(attrs_a) | set(attrs_b) if attrs_a.get(k) != attrs_b.get(k))
        diffs.append(f"attributes {keys} differ")

    def arrays(group, prefix=""):
        out = {}
        for name, member in group.members():
            if isinstance(member, zarr.Group):
                out.update(arrays(member, f"{prefix}{name}/"))
            else:
                out[f"{prefix}{name}"] = member
        return out

    aa, ab = arrays(ga), arrays(gb)
    if set(aa) != set(ab):
        diffs.append(f"arrays {sorted(set(aa) ^ set(ab))} in one store only")
    for name in sorted(set(aa) & set(ab)):
        if name.split("/")[-1] in IGNORED_ARRAYS:
            continue
        x, y = np.asarray(aa[name][...]), np.asarray(ab[name][...])
        if x.shape != y.shape or not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
            diffs.append(f"array {name} differs")
    return diffs


def _table_without_timings(path: Path) -> str:
    """A CSV table with its measured columns (``IGNORED_ARRAYS`` and ``*_s`` wall times) removed."""
    import pandas as pd

    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    measured = [c for c in table.columns if c in IGNORED_ARRAYS or c.startswith("wall_time")]
    return table.drop(columns=measured).to_csv(index=False)


def output_differences(faulted: Path, reference: Path) -> list[str]:
    """What differs between the final outputs of two runs (empty when equal)."""
    got, want = _outputs(faulted), _outputs(reference)
    diffs = [f"{name}: only in the faulted run" for name in sorted(set(got) - set(want))]
    diffs += [f"{name}: missing from the faulted run" for name in sorted(set(want) - set(got))]
    for name in sorted(set(got) & set(want)):
        a, b = got[name], want[name]
        if a.is_dir():
            diffs += [f"{name}: {d}" for d in _store_differences(a, b)]
        elif name.endswith("provenance.yaml"):
            continue  # package versions and the configuration only, rewritten each run
        elif name.endswith(".csv") and _table_without_timings(a) == _table_without_timings(b):
            continue  # equal but for measured seconds
        elif a.read_bytes() != b.read_bytes():
            diffs.append(f"{name}: bytes differ")
    return diffs


def _kill_snakemake(command: list[str], workdir: Path, env: dict, rng: random.Random) -> None:
    """Start the command, SIGKILL it with its process group once jobs run, then --unlock."""
    logs = workdir / "results" / "logs"
    wanted = rng.randint(3, 8)  # jobs started before the kill
    with open(workdir / "killed_snakemake.log", "w") as out:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + ROUND_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if len(list(logs.glob("*/*.log"))) >= wanted:
                time.sleep(rng.uniform(0.0, 2.0))
                os.killpg(process.pid, signal.SIGKILL)
                break
            time.sleep(0.2)
        process.wait()
    unlock = subprocess.run([*command, "--unlock"], cwd=workdir, env=env, capture_output=True,
                            text=True)
    assert unlock.returncode == 0, unlock.stdout + unlock.stderr


def run_with_faults(workdir: Path, plan: dict, seed: int, kill_snakemake: bool = True,
                    targets: tuple[str, ...] = ()) -> dict:
    """Run the CI preset (or its ``targets``) with ``plan`` until it succeeds; returns
    counts for the report."""
    state = workdir / "faults"
    plan_file = workdir / "fault_plan.json"
    plan_file.write_text(json.dumps({"state_dir": str(state), "jobs": plan}, indent=1))
    env = dict(os.environ, GALPRIOR_FAULT_PLAN=str(plan_file))
    command = [str(SNAKEMAKE), *targets, "--snakefile", str(REPO / "Snakefile"), "--cores", "2",
               "--directory", str(workdir), "--rerun-incomplete", "--keep-going",
               "--configfile", str(CI_PRESET)]
    rng = random.Random(seed)
    snakemake_kills = 0
    for rounds in range(1, MAX_ROUNDS + 1):
        if kill_snakemake and rounds == 1:
            _kill_snakemake(command, workdir, env, rng)
            snakemake_kills += 1
            returncode = None
        else:
            # output to a file, not a pipe: a worker process orphaned by a kill would hold
            # a pipe open and the test would wait for it forever
            with open(workdir / f"round{rounds}.log", "w") as out:
                returncode = subprocess.run(command, cwd=workdir, env=env, stdout=out,
                                            stderr=subprocess.STDOUT, timeout=ROUND_TIMEOUT).returncode
        assert incomplete_outputs(workdir) == [], f"after round {rounds}"
        assert readers_that_met_incomplete_stores(workdir) == [], f"after round {rounds}"
        if returncode == 0:
            break
    else:
        pytest.fail(f"the CI preset did not finish after {MAX_ROUNDS} runs with faults; "
                    f"see {workdir}/round*.log", pytrace=False)
    kills = sorted(p.name for p in state.glob("*.kill-*"))
    return {"rounds": rounds, "job_kills": len(kills), "snakemake_kills": snakemake_kills,
            "markers": kills}


def _check_every_planned_kill(plan: dict, state: Path) -> None:
    missing = [f"{job} point {k}: {point}" for job, points in plan.items()
               for k, point in enumerate(points)
               if not (state / f"{job.replace('/', '__')}.kill-{k}").exists()]
    assert missing == [], ("planned kills that never happened (does the rule's script call "
                           f"galprior.logs.setup_logging first?): {missing}")


def _faulted_run_matches(ci_run: Path, workdir: Path, points_per_rule: int, seed: int) -> dict:
    plan = fault_plan(ci_run, points_per_rule, seed)
    counts = run_with_faults(workdir, plan, seed)
    rules = {job.split("/")[0] for job in plan}
    (workdir / "fault_counts.json").write_text(json.dumps({**counts, "rules": len(rules)}, indent=1))
    _check_every_planned_kill(plan, workdir / "faults")
    assert rules == set(_job_logs(ci_run)), "every rule of the DAG has a planned kill"
    assert output_differences(workdir, ci_run) == []
    return counts


@pytest.mark.workflow
def test_every_rule_killed_once_then_rerun_gives_the_undisturbed_outputs(ci_run, tmp_path):
    counts = _faulted_run_matches(ci_run, tmp_path, points_per_rule=1, seed=SEED)
    assert counts["job_kills"] >= len(_job_logs(ci_run)) and counts["snakemake_kills"] == 1


@pytest.mark.workflow
@pytest.mark.slow
def test_every_rule_killed_at_three_points_then_rerun_gives_the_undisturbed_outputs(ci_run, tmp_path):
    counts = _faulted_run_matches(ci_run, tmp_path, points_per_rule=3, seed=SEED + 1)
    assert counts["job_kills"] >= 3 * len(_job_logs(ci_run))
