"""Fault injection for the reliability tests: a workflow job that kills itself with SIGKILL.

Off (one environment lookup, nothing else) unless ``GALPRIOR_FAULT_PLAN`` names a JSON
file written by the test harness (``tests/reliability/test_faults.py``)::

    {"state_dir": "/tmp/.../faults",
     "jobs": {"train_vae/all": [{"at_write": 3}, {"after_s": 1.7}],
              "prepare_galaxies/simulated_chianese_shard0": [{"after_s": 0.4}]}}

A job is named by its log file, ``<rule>/<name>`` (``logs/<rule>/<name>.log``), which
:func:`galprior.logs.setup_logging` passes to :func:`arm` as every workflow script
starts. The k-th attempt of a job (the number of kill markers already in ``state_dir``)
uses the k-th point of its list; attempts beyond the list run undisturbed. A point is

- ``{"after_s": t}``: SIGKILL ``t`` seconds after the script set up its log (anywhere
  in its computation, or in the middle of writing an output);
- ``{"at_write": k}``: SIGKILL inside the k-th atomic write of the job
  (:func:`galprior.store.atomic.atomic_write`: a store, a checkpoint, weights, a table),
  after half of the largest file of the temporary has been cut away, i.e. the state a
  kill in the middle of that write leaves behind.

If the job ends before its point is reached, it is killed on its way out (after its
outputs are written but before Snakemake sees it finish): every planned kill happens.
The marker (``<rule>__<name>.kill-<attempt>``, holding where the kill came) is written
just before the signal, so the harness can count the faults survived.

Why here and not in Snakemake: a kill from outside lands at a random point of the job
but cannot aim at the inside of a store or checkpoint write; this hook can, and costs
nothing when the variable is unset.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import threading
from pathlib import Path

__all__ = ["ENV_VAR", "arm", "at_write"]

ENV_VAR = "GALPRIOR_FAULT_PLAN"

_state: dict = {}


def _descendants(pid: int) -> list[int]:
    """Process ids of every descendant of ``pid`` (Linux ``/proc``), children first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill(where: str) -> None:
    """Write the marker of this attempt, then SIGKILL this process and its descendants.

    The descendants (worker processes) go first, as a cluster's pre-emption kills every
    process of a job (its cgroup) at once.
    """
    marker = Path(_state["marker"])
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(where)
    for pid in _descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os.kill(os.getpid(), signal.SIGKILL)


def arm(log_file: str | os.PathLike | None) -> None:
    """Arm the planned kill of this job, if a plan names it (called by ``setup_logging``)."""
    plan_path = os.environ.get(ENV_VAR)
    if not plan_path or log_file is None or _state:
        return
    log_file = Path(log_file)
    job = f"{log_file.parent.name}/{log_file.stem}"
    plan = json.loads(Path(plan_path).read_text())
    points = plan["jobs"].get(job)
    if not points:
        return
    state_dir = Path(plan["state_dir"])
    prefix = job.replace("/", "__")
    attempt = len(list(state_dir.glob(f"{prefix}.kill-*"))) if state_dir.is_dir() else 0
    if attempt >= len(points):
        return
    point = points[attempt]
    _state.update(marker=str(state_dir / f"{prefix}.kill-{attempt}"), writes=0,
                  at_write=point.get("at_write"))
    if "after_s" in point:
        timer = threading.Timer(float(point["after_s"]), _kill, args=(f"after_s={point['after_s']}",))
        timer.daemon = True
        timer.start()
    atexit.register(_kill, "at exit (the job ended before its point)")


def at_write(tmp: Path) -> None:
    """Called by ``atomic_write`` when ``tmp`` is written, before it is renamed into place."""
    if not _state or _state.get("at_write") is None:
        return
    _state["writes"] += 1
    if _state["writes"] != _state["at_write"]:
        return
    files = [tmp] if tmp.is_file() else [p for p in tmp.rglob("*") if p.is_file()]
    if files:
        largest = max(files, key=lambda p: p.stat().st_size)
        with open(largest, "r+b") as handle:
            handle.truncate(largest.stat().st_size // 2)
    _kill(f"at_write={_state['at_write']} ({tmp.name})")
