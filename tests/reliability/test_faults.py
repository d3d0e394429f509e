"""Fault injection: every rule of the workflow killed with SIGKILL once, the same command rerun.

The harness runs the whole CI preset in a fresh folder with a *fault plan*
(:mod:`galprior.store.faults`, armed through ``GALPRIOR_FAULT_PLAN``): for every rule that
``snakemake --list-rules`` lists (but the opt-in ones of ``NOT_IN_CI``), one of its jobs
(seeded choice) kills itself with SIGKILL once, aimed at one of four points of its life:
during its imports, mid-computation, inside an atomic write (a store, a checkpoint, with
the temporary cut to half) or after its outputs are written. The aims rotate over the
rules of each system, so that every system sees every kind of landing in ONE run (the
earlier ``slow`` variant, which killed each rule at three points, is folded into this
plan). Where each kill really landed is read from the job's stack at the kill and
recorded in its marker. The Snakemake process itself is killed too (with its whole process
group, as a lost login node would be), then ``--unlock`` is run as docs/cluster.md says. After
every round the same command is run again, until it succeeds. Checked:

(a) the plan covers the workflow's own rule list, and the run completes (in at most
    ``MAX_ROUNDS`` reruns);
(b) after every round, no store or checkpoint at its final path is incomplete, no log
    shows a reader that met one, and every planned kill happened;
(c) every kill's landing is recorded; each of the four paper systems saw a kill during
    imports, mid-computation, mid-write and after the outputs (the shared data stage at
    least mid-computation and mid-write); every kill that cannot miss its aim (a write,
    the end, mid-computation in a job that writes a store) landed there;
(d) the final outputs equal those of the undisturbed run of the session (the ``ci_run``
    fixture, reused: no second clean run): arrays bit for bit, table and figure files byte
    for byte, except what is measured rather than computed (``IGNORED_ARRAYS``, wall-time
    columns of CSV tables) and the store's ``created`` timestamp.
"""

from __future__ import annotations

import base64
import datetime
import itertools
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

from galprior.store.faults import LANDINGS

# Snakemake leaves a timestamp file inside directory outputs; zarr warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Object at .snakemake_timestamp")

REPO = Path(__file__).resolve().parents[2]
CI_PRESET = REPO / "config" / "presets" / "ci.yaml"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
MAX_ROUNDS = 40  # reruns of the same command before the test gives up (about the DAG depth per point)
ROUND_TIMEOUT = 1800  # s
SEED = 14
#: Rules of ``snakemake --list-rules`` that the CI preset does not run, and why.
NOT_IN_CI = {
    "all": "the target rule: no job of its own",
    "download_cosmos": "opt-in download of GalSim's COSMOS archives (galaxies.cosmos.<product>.download)",
    "prepare_des_real": "reads the user's real DES catalogue and cutouts (nguyen.des.real)",
}
#: The paper systems (rules files): each must see every landing of ``LANDINGS``.
PAPER_SYSTEMS = ("chianese", "adam", "nguyen", "lanusse")
#: Rules whose kill aims at a particular atomic write (1-based): train_vae's 3rd write is a
#: checkpoint of epoch 2 (best.pt or last.pt), so the rerun resumes from epoch 1's
#: checkpoint; split_galaxies dies writing its second split. Every other rule aimed at a
#: write dies inside its first one.
WRITE_FAULTS = {"train_vae": 3, "split_galaxies": 2}
# Arrays that hold measured quantities (seconds), not computed ones: never compared.
IGNORED_ARRAYS = {"wall_time"}
IGNORED_ATTRS = {"created"}  # when the store was written
NOT_OUTPUTS = ("logs", "benchmarks", "checkpoints")  # results/ folders that are not compared


def rules_by_system() -> dict[str, str]:
    """Every rule of the workflow and its system (the rules file that defines it)."""
    return {match.group(1): smk.stem for smk in sorted((REPO / "workflow" / "rules").glob("*.smk"))
            for match in re.finditer(r"^rule (\w+):", smk.read_text(), re.MULTILINE)} | {"all": "Snakefile"}


def listed_rules(workdir: Path) -> set[str]:
    """The rules ``snakemake --list-rules`` gives for the CI preset."""
    result = subprocess.run([str(SNAKEMAKE), "--list-rules", "--snakefile", str(REPO / "Snakefile"),
                             "--configfile", str(CI_PRESET)], cwd=workdir, capture_output=True,
                            text=True, timeout=300, check=True)
    return set(result.stdout.split())


def _metadata(workdir: Path) -> dict[str, dict]:
    """Snakemake's record of each output of a finished run, by output path (the record's
    file name is the path in URL-safe base64, long names split into '@' folders)."""
    folder = workdir / ".snakemake" / "metadata"
    records = {}
    for record in folder.rglob("*"):
        if not record.is_file():
            continue
        name = "".join(part.removeprefix("@") for part in record.relative_to(folder).parts)
        try:
            records[base64.urlsafe_b64decode(name).decode()] = json.loads(record.read_text())
        except (ValueError, UnicodeDecodeError):
            continue
    return records


#: Outputs always written through ``atomic_write`` (stores, weights, checkpoints, the latent prior).
ATOMIC_SUFFIXES = (".zarr", ".pt", ".npz")


def atomic_writers(reference: Path) -> set[str]:
    """Rules of a finished run with an output of ``ATOMIC_SUFFIXES``."""
    writers = {"prepare_galaxies"}  # its shards are temporary: their records are gone
    return writers | {meta["rule"] for output, meta in _metadata(reference).items()
                      if output.endswith(ATOMIC_SUFFIXES) and "rule" in meta}


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
    for meta in _metadata(workdir).values():
        try:
            log = Path(meta["log"][0])
            durations[f"{log.parent.name}/{log.stem}"] = meta["endtime"] - meta["starttime"]
        except (KeyError, IndexError, TypeError):
            continue
    for log in (workdir / "results" / "logs").glob("*/*.log"):
        job = f"{log.parent.name}/{log.stem}"
        match = re.search(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})", log.read_text(), re.MULTILINE)
        if job not in durations and match is not None:
            start = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
            durations[job] = log.stat().st_mtime - start - int(match.group(2)) / 1000
    return durations


def fault_plan(reference: Path, systems: dict[str, str], seed: int) -> dict[str, list[dict]]:
    """One kill for one job (seeded choice) of every rule of a finished run.

    Within each system (``systems``: rule -> rules file) the aims rotate over ``LANDINGS``,
    so that each kind of landing occurs in every system: the rules of ``WRITE_FAULTS``
    aim at their write; of the others, longest job first (the undisturbed run's
    durations), the longest atomic writer aims mid-computation (such a kill comes at the
    latest just before the job's first atomic write: it cannot miss), the next longest at
    a write, and the rest take the kinds in turn (a write only for an atomic writer). A
    mid-computation kill comes at a seeded time in the middle of the job (0.3 to 0.7 of its
    undisturbed running time), once the job is computing.
    """
    rng = random.Random(seed)
    durations, writers, jobs = _durations(reference), atomic_writers(reference), _job_logs(reference)
    chosen = {rule: rng.choice(jobs[rule]) for rule in sorted(jobs)}
    duration = {rule: max(durations.get(job, 1.0), 0.5) for rule, job in chosen.items()}
    aims: dict[str, str] = {}
    for system in sorted({systems[rule] for rule in chosen}):
        rules = sorted((r for r in chosen if systems[r] == system), key=lambda r: (-duration[r], r))
        aims.update({rule: "write" for rule in rules if rule in WRITE_FAULTS})
        rest = [rule for rule in rules if rule not in aims]
        for aim in ("computation", "write"):
            writer = next((r for r in rest if r in writers and r not in aims), None)
            if writer is not None and aim not in {aims.get(r) for r in rules}:
                aims[writer] = aim
        rotation = itertools.cycle(("imports", "after-outputs", "computation", "write"))
        for rule in (r for r in rest if r not in aims):
            aim = next(rotation)
            aims[rule] = next(rotation) if aim == "write" and rule not in writers else aim
    plan = {}
    for rule, job in chosen.items():
        point: dict = {"aim": aims[rule]}
        if aims[rule] == "computation":
            point["after_s"] = round(rng.uniform(0.3, 0.7) * duration[rule], 2)
        elif aims[rule] == "write":
            point["at_write"] = WRITE_FAULTS.get(rule, 1)
        plan[job] = [point]
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


def landings(plan: dict, state: Path) -> dict[str, dict]:
    """The marker of each planned kill (aim, landing, where), by job."""
    return {job: json.loads((state / f"{job.replace('/', '__')}.kill-0").read_text())
            for job in plan}


def test_the_plan_gives_every_system_every_aim_and_follows_the_rule_list(tmp_path):
    """The plan on a made-up finished run (logs and metadata only): one kill per rule,
    every aim in every system, writes only where a store is written."""
    systems = {"train": "a", "plot": "a", "table": "a", "infer": "a", "prepare": "b", "split": "b"}
    seconds = {"train": 40, "infer": 20, "table": 3, "plot": 2, "prepare": 8, "split": 1}
    for rule, duration in seconds.items():
        log = tmp_path / "results" / "logs" / rule / "all.log"
        log.parent.mkdir(parents=True)
        log.write_text("")
        output = f"results/{rule}.zarr" if rule in ("infer", "split", "prepare") else f"results/{rule}.csv"
        output = "results/model.pt" if rule == "train" else output
        record = tmp_path / ".snakemake" / "metadata" / base64.urlsafe_b64encode(output.encode()).decode()
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"rule": rule, "log": [str(log)], "starttime": 0,
                                      "endtime": duration}))
    plan = fault_plan(tmp_path, systems, seed=0)
    aims = {job.split("/")[0]: points[0]["aim"] for job, points in plan.items()}
    assert set(aims) == set(systems) and all(len(points) == 1 for points in plan.values())
    assert {aims[r] for r in ("train", "plot", "table", "infer")} == set(LANDINGS)
    assert aims["train"] == "computation" and aims["infer"] == "write"  # the two longest writers
    assert aims["prepare"] == "computation" and aims["split"] == "write"
    assert aims["table"] == "imports" and aims["plot"] == "after-outputs"
    assert 0.3 * 40 <= plan["train/all"][0]["after_s"] <= 0.7 * 40


SCRIPT = """\
import sys, time
from galprior.logs import setup_logging
setup_logging(sys.argv[1])
import slow_import  # sleeps 1.5 s while it is imported
from galprior.store.atomic import atomic_write


def compute():
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        sum(range(1000))


compute()
atomic_write(sys.argv[2], lambda tmp: tmp.write_bytes(bytes(10000)))
"""


@pytest.mark.parametrize("point, where", [
    ({"aim": "imports"}, "slow_import.py"),
    ({"aim": "computation", "after_s": 0.2}, "in compute"),  # waits out the imports
    ({"aim": "computation", "after_s": 60.0}, "before the atomic write of output.bin"),  # at the latest
    ({"aim": "write", "at_write": 1}, "in atomic_target"),  # the write atomic_write opens
    ({"aim": "after-outputs"}, "at exit"),
], ids=["imports", "computation", "computation-at-the-latest", "write", "after-outputs"])
def test_each_kill_lands_where_aimed_and_its_marker_says_where(tmp_path, point, where):
    (tmp_path / "slow_import.py").write_text("import time\ntime.sleep(1.5)\n")
    (tmp_path / "job.py").write_text(SCRIPT)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"state_dir": str(tmp_path / "faults"), "jobs": {"rule/job": [point]}}))
    env = dict(os.environ, GALPRIOR_FAULT_PLAN=str(plan),
               PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(tmp_path)]))
    output = tmp_path / "output.bin"
    result = subprocess.run([sys.executable, str(tmp_path / "job.py"), str(tmp_path / "logs" / "rule" / "job.log"),
                             str(output)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    marker = json.loads((tmp_path / "faults" / "rule__job.kill-0").read_text())
    assert marker["aim"] == point["aim"] and marker["landing"] == point["aim"], marker
    assert where in marker["where"], marker
    assert output.exists() == (point["aim"] == "after-outputs")
    if point["aim"] == "write":  # the temporary, cut to half, is all that is left
        (temporary,) = [p for p in tmp_path.iterdir() if p.name.startswith(".output.bin.tmp-")]
        assert temporary.stat().st_size == 5000
    if point["aim"] != "write":
        return
    # a second attempt of the job is not disturbed, and replaces the temporary by the output
    rerun = subprocess.run([sys.executable, str(tmp_path / "job.py"), str(tmp_path / "logs" / "rule" / "job.log"),
                            str(output)], env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0 and output.stat().st_size == 10000, rerun.stderr[-3000:]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".output.bin.tmp-")]


@pytest.mark.workflow
def test_every_rule_killed_once_where_aimed_then_rerun_gives_the_undisturbed_outputs(ci_run, tmp_path):
    systems = rules_by_system()
    listed = listed_rules(ci_run)
    assert set(systems) == listed, "the rules files define the rules snakemake --list-rules lists"
    jobs = _job_logs(ci_run)
    assert set(NOT_IN_CI) <= listed and not set(NOT_IN_CI) & set(jobs), \
        "the rules exempted from the plan exist and the CI preset indeed does not run them"
    plan = fault_plan(ci_run, systems, SEED)
    planned = {job.split("/")[0] for job in plan}
    assert planned == listed - set(NOT_IN_CI), \
        f"rules of the workflow without a kill: {sorted(listed - set(NOT_IN_CI) - planned)}"

    counts = run_with_faults(tmp_path, plan, SEED)
    _check_every_planned_kill(plan, tmp_path / "faults")
    markers = landings(plan, tmp_path / "faults")
    by_system: dict[str, set[str]] = {}
    for job, marker in markers.items():
        by_system.setdefault(systems[job.split("/")[0]], set()).add(marker["landing"])
    (tmp_path / "fault_counts.json").write_text(json.dumps(
        {**counts, "rules": len(planned), "landings": {s: sorted(k) for s, k in by_system.items()},
         "kills": markers}, indent=1))
    assert all(marker["landing"] in LANDINGS and marker["where"] for marker in markers.values())
    missed = {system: sorted(set(LANDINGS) - by_system.get(system, set())) for system in PAPER_SYSTEMS}
    assert not any(missed.values()), f"landings no kill of a system reached: {missed}"
    assert {"computation", "write"} <= by_system["data"]
    writers = atomic_writers(ci_run)
    certain = {"write", "after-outputs"}  # and mid-computation in a job that writes a store
    wrong = {job: marker for job, marker in markers.items() if marker["landing"] != marker["aim"]
             and (marker["aim"] in certain
                  or marker["aim"] == "computation" and job.split("/")[0] in writers)}
    assert not wrong, f"kills that cannot miss their aim but landed elsewhere: {wrong}"
    assert counts["job_kills"] == len(plan) and counts["snakemake_kills"] == 1
    assert output_differences(tmp_path, ci_run) == []
