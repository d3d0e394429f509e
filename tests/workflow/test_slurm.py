"""The workflow submitted to a real SLURM cluster through profiles/slurm-test.

A module fixture installs Debian's SLURM and MUNGE packages (when missing), starts a
one-node cluster whose configuration, keys, sockets, state and logs all live in a
temporary folder (munged, slurmctld and slurmd on free ports), and stops the daemons
by their PIDs afterwards. The tests skip, with the reason, where this cannot be done
(not root, no apt-get, no network for the packages, or daemons that cannot start in
this container): a laptop, not a CI runner.

The run is the cluster command of docs/cluster.md with the test profile and the CI preset:
    snakemake --profile profiles/slurm-test --configfile config/presets/ci.yaml
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.workflow

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
PROFILE = REPO / "profiles" / "slurm-test"
PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
BINARIES = ["slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo", "scancel", "munged", "munge"]
DAEMON_START_TIMEOUT = 120  # s, until sinfo shows the node idle
WORKFLOW_TIMEOUT = 1800  # s, the Chianese chain of the CI preset through SLURM


def output_files(workdir: Path) -> set[str]:
    """Files of a run under results/, relative to its working directory (logs aside)."""
    results = workdir / "results"
    return {str(p.relative_to(workdir)) for p in results.rglob("*")
            if p.is_file() and not p.relative_to(results).parts[0] in ("logs", "benchmarks")}


def run_logged(command: list[str], cwd: Path, env: dict, log: Path):
    """Run a command, stdout and stderr together, also written to ``log``."""
    result = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log.write_text(result.stdout)
    return result


def _install_slurm() -> None:
    """Install the SLURM and MUNGE packages with apt-get, or skip the module."""
    if all(shutil.which(b, path=_sbin_path()) for b in BINARIES):
        return
    if os.geteuid() != 0:
        pytest.skip("SLURM is not installed and installing it needs root (apt-get)")
    if shutil.which("apt-get") is None:
        pytest.skip("SLURM is not installed and there is no apt-get to install it")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:  # stale package lists: update once and retry
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.skip(f"apt-get could not install {PACKAGES}:\n{result.stderr[-2000:]}")


def _sbin_path() -> str:
    """PATH with the sbin folders, where Debian puts the daemons."""
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_memory_mb() -> int:
    """90 % of the machine's memory in MB: slurmd drains a node that has less than declared."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(int(line.split()[1]) / 1024 * 0.9)
    raise RuntimeError("no MemTotal in /proc/meminfo")


def _slurm_conf(root: Path, host: str, cpus: int, memory_mb: int, munge_socket: Path) -> str:
    return f"""\
ClusterName=galpriortest
SlurmctldHost={host}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=3600
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=debug Default=YES Nodes=ALL MaxTime=INFINITE State=UP
"""


def _wait_for(predicate, timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1)
    tails = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in logs if p.exists())
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}\n{tails}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A running one-node SLURM cluster; yields the environment that reaches it."""
    _install_slurm()
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool", "munge"):
        (root / sub).mkdir(mode=0o700)
    host = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    memory_mb = _node_memory_mb()
    munge_dir = root / "munge"
    munge_socket = munge_dir / "munge.socket"
    key = munge_dir / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root, host, cpus, memory_mb, munge_socket))
    # The jobstep plugin (0.6) strips every SLURM_* variable, SLURM_CONF included, before
    # its `srun` inside a job; a real cluster has /etc/slurm/slurm.conf, this one lives in
    # tmp, so an `srun` first on PATH puts SLURM_CONF back.
    shims = root / "bin"
    shims.mkdir()
    real_srun = shutil.which("srun", path=_sbin_path())
    (shims / "srun").write_text(
        f'#!/bin/sh\nSLURM_CONF="{conf}" exec "{real_srun}" "$@"\n')
    (shims / "srun").chmod(0o755)
    env = dict(os.environ, SLURM_CONF=str(conf),
               PATH=os.pathsep.join([str(shims), _sbin_path()]))
    env.pop("SLURM_JOB_ID", None)  # not a job step of an outer cluster
    logs = [munge_dir / "munged.log", root / "slurmctld.log", root / "slurmd.log"]

    processes: list[subprocess.Popen] = []

    def start(*command: str) -> None:
        out = open(root / f"{Path(command[0]).name}.out", "w")
        processes.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT))

    def scontrol_ping() -> bool:
        r = subprocess.run(["scontrol", "ping"], env=env, capture_output=True, text=True)
        return "UP" in r.stdout

    def node_idle() -> bool:
        r = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=env,
                           capture_output=True, text=True)
        return r.returncode == 0 and r.stdout.strip().startswith("idle")

    try:
        try:
            start("munged", "--foreground", "--force", f"--key-file={key}",
                  f"--socket={munge_socket}", f"--pid-file={munge_dir / 'munged.pid'}",
                  f"--log-file={munge_dir / 'munged.log'}", f"--seed-file={munge_dir / 'seed'}")
            _wait_for(munge_socket.exists, 30, "munged's socket", logs + [root / "munged.out"])
            start("slurmctld", "-D", "-i", "-f", str(conf))
            _wait_for(scontrol_ping, DAEMON_START_TIMEOUT, "slurmctld", logs)
            start("slurmd", "-D", "-f", str(conf), "-N", host)
            _wait_for(node_idle, DAEMON_START_TIMEOUT, "the node to be idle", logs)
        except (RuntimeError, OSError) as err:
            # a container without the privileges the daemons need (cgroups, setuid, ports):
            # not a failure of the workflow, so skip and say why
            pytest.skip(f"the SLURM daemons could not start here: {str(err)[-1500:]}")
        yield {"env": env, "cpus": cpus, "memory_mb": memory_mb, "root": root}
    finally:
        jobs = subprocess.run(["squeue", "-h", "-o", "%i"], env=env,
                              capture_output=True, text=True).stdout.split()
        if jobs:
            subprocess.run(["scancel", *jobs], env=env, capture_output=True)
        for process in reversed(processes):  # slurmd, slurmctld, then munged
            _stop(process)


def _fitting_resources(cpus: int, memory_mb: int) -> dict:
    """config['resources'] of the CI run, clamped to what the test node has.

    The workflow's own per-rule values go to sbatch unchanged where they fit (they do on
    any machine with >= 2 cores and 9 GB); only what the node cannot give is lowered.
    """
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    preset = yaml.safe_load((REPO / "config" / "presets" / "ci.yaml").read_text()) or {}
    ours, theirs = config.get("resources") or {}, preset.get("resources") or {}
    clamped = {}
    for rule in {*ours, *theirs}:
        values = {**(ours.get(rule) or {}), **(theirs.get(rule) or {})}
        if "mem_mb" in values:
            values["mem_mb"] = min(values["mem_mb"], memory_mb)
        if "cpus_per_task" in values:
            values["cpus_per_task"] = min(values["cpus_per_task"], cpus)
        clamped[rule] = values
    return {"resources": clamped}


# The Chianese system's chain of the CI preset: galaxy shards, split, VAE, latent prior, mock
# lenses, MAP, HMC, metrics, and the figures of the galaxies (single- and multi-thread
# jobs, checkpoints, the GPU-capable rules): every kind of job, in 13 of the DAG's 70 (the
# whole DAG is the local ci_run's; through SLURM it took 7.4 min of the CI budget).
SLURM_TARGETS = ("results/tables/chianese/lens_recovery.csv",
                 "results/figures/galaxies/simulated_chianese.png")


def test_ci_preset_runs_through_slurm(slurm_cluster, ci_run, tmp_path):
    """The CI preset's Chianese chain, submitted job by job to SLURM, makes what the local
    run makes."""
    workdir = tmp_path / "run"
    workdir.mkdir()
    overlay = tmp_path / "fit_node.yaml"
    overlay.write_text(yaml.safe_dump(
        _fitting_resources(slurm_cluster["cpus"], slurm_cluster["memory_mb"])))
    command = [
        "timeout", "-k", "10", str(WORKFLOW_TIMEOUT),
        str(SNAKEMAKE), "--profile", str(PROFILE),
        "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        *SLURM_TARGETS,  # before --configfile, which takes every argument after it
        "--configfile", str(REPO / "config" / "presets" / "ci.yaml"), str(overlay),
    ]
    started = time.monotonic()
    result = run_logged(command, cwd=workdir, env=slurm_cluster["env"],
                        log=tmp_path / "snakemake.log")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, f"SLURM run failed after {elapsed:.0f} s:\n{result.stdout[-6000:]}"

    # What the SLURM run made, the local run made too (same relative paths), the targets
    # included.
    made = output_files(workdir)
    assert set(SLURM_TARGETS) <= made <= output_files(ci_run), sorted(made - output_files(ci_run))
    assert any(p.startswith("results/figures/") for p in made)

    # ... and nothing is left to do for the targets.
    dry = subprocess.run([str(SNAKEMAKE), "-n", "--snakefile", str(REPO / "Snakefile"),
                          "--directory", str(workdir), *SLURM_TARGETS, "--configfile",
                          str(REPO / "config" / "presets" / "ci.yaml"), str(overlay)],
                         cwd=workdir, capture_output=True, text=True)
    assert "Nothing to be done" in dry.stdout + dry.stderr

    # Every job but the local target rule went through sbatch and left a SLURM log that
    # shows it finished.
    total = int(re.search(r"^total\s+(\d+)$", result.stdout, re.MULTILINE).group(1))
    local = len(re.findall(r"^localrule \w+:$", result.stdout, re.MULTILINE))
    submitted = re.findall(r"submitted with SLURM jobid (\d+) \(log: (.+)\)\.$",
                           result.stdout, re.MULTILINE)
    assert total > local and len(submitted) == total - local, result.stdout[-4000:]
    resources = yaml.safe_load(overlay.read_text())["resources"]
    checked = []
    for job_id, log in submitted:
        log = Path(log)
        assert log.is_relative_to(workdir / ".snakemake" / "slurm_logs")
        assert "1 of 1 steps (100%) done" in log.read_text(), log
        # ... with the resources of its rule from config['resources'] (rule_resources), read
        # back from slurmctld (MinJobAge=3600 in slurm.conf, longer than WORKFLOW_TIMEOUT: it
        # keeps every finished job of the run; 0 is raised to 2 s by SLURM 22.05)
        rule = log.relative_to(workdir / ".snakemake" / "slurm_logs").parts[0].removeprefix("rule_")
        wanted = {**resources["default"], **resources.get(rule, {})}
        job = subprocess.run(["scontrol", "show", "job", job_id], env=slurm_cluster["env"],
                             capture_output=True, text=True).stdout
        assert f"JobId={job_id} " in job, f"slurmctld has no record of job {job_id} ({rule})"
        assert f"MinMemoryNode={wanted['mem_mb']}M" in job, (rule, wanted, job)
        assert f"NumCPUs={wanted['cpus_per_task']} " in job, (rule, wanted, job)
        checked.append(rule)
    assert len(checked) == len(submitted) == total - local, "every submitted job's resources were read"
    assert {"prepare_galaxies", "train_vae", "infer_map"} <= set(checked), checked


FAILING_SNAKEFILE = """\
rule fail:
    output: "never.txt"
    shell: "echo 'about to fail on purpose'; exit 1"
"""


def test_failing_job_reports_its_slurm_log(slurm_cluster, tmp_path):
    """A job that fails on the cluster fails the run and names its SLURM log."""
    (tmp_path / "Snakefile").write_text(FAILING_SNAKEFILE)
    command = ["timeout", "-k", "10", "600", str(SNAKEMAKE), "--profile", str(PROFILE),
               "--snakefile", str(tmp_path / "Snakefile"), "--directory", str(tmp_path)]
    result = run_logged(command, cwd=tmp_path, env=slurm_cluster["env"],
                        log=tmp_path / "snakemake.log")
    assert result.returncode not in (0, 124, 137), result.stdout[-4000:]
    assert "Error in rule fail" in result.stdout, result.stdout[-4000:]
    logs = list((tmp_path / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert len(logs) == 1, logs
    assert str(logs[0]) in result.stdout, result.stdout[-4000:]
    assert "about to fail on purpose" in logs[0].read_text()
    assert not (tmp_path / "never.txt").exists()
