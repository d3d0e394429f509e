"""Fault injection for the reliability tests: a workflow job that kills itself with SIGKILL,
and records where the kill landed.

Off (one environment lookup, nothing else) unless ``GALPRIOR_FAULT_PLAN`` names a JSON
file written by the test harness (``tests/reliability/test_faults.py``)::

    {"state_dir": "/tmp/.../faults",
     "jobs": {"train_vae/all": [{"aim": "computation", "after_s": 1.7}],
              "split_galaxies/simulated_chianese": [{"aim": "write", "at_write": 2}],
              "plot_galaxies/simulated_chianese": [{"aim": "imports"}],
              "tabulate_snr/all": [{"aim": "after-outputs"}]}}

A job is named by its log file, ``<rule>/<name>`` (``logs/<rule>/<name>.log``), which
:func:`galprior.logs.setup_logging` passes to :func:`arm` as every workflow script
starts. The k-th attempt of a job (the number of kill markers already in ``state_dir``)
uses the k-th point of its list; attempts beyond the list run undisturbed. A point aims
at one of the :data:`LANDINGS`:

- ``imports``: SIGKILL while the script's own top-level imports run (polled every
  ``POLL_S`` from :func:`arm`, which every script calls before its imports);
- ``computation``: SIGKILL ``after_s`` seconds after :func:`arm`, at the first moment
  after that when the job is neither importing nor inside an atomic write (reading
  inputs, computing, training, between writes); or, if the job reaches its first atomic
  write before that time, just before that write begins (its computation is over):
  a job that writes a store is always killed mid-computation;
- ``write``: SIGKILL inside the ``at_write``-th atomic write of the job
  (:func:`galprior.store.atomic.atomic_write`: a store, a checkpoint, weights, a table),
  after half of the largest file of the temporary has been cut away, i.e. the state a
  kill in the middle of that write leaves behind;
- ``after-outputs``: SIGKILL once the script has finished (its outputs written) but
  before Snakemake sees the job end.

A job that ends before its point is reached is killed on its way out (``after-outputs``):
every planned kill happens. Where a kill *landed* is not assumed from its aim but read
from the main thread's stack at the moment of the kill (:func:`landing`): the timed
kills are delivered as a signal to the main thread, whose handler classifies its own
stack and kills in the same instant, so the record cannot describe a moment the job had
already left. The marker (``<rule>__<name>.kill-<attempt>``) written just before the
signal holds JSON: ``aim``, ``landing`` and ``where`` (the script line and the innermost
frame), so the harness can check both that every kill happened and where it landed.

Why here and not in Snakemake: a kill from outside lands at a random point of the job
but cannot aim at the inside of a store or checkpoint write, nor say where it landed;
this hook can, and costs nothing when the variable is unset.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

__all__ = ["ENV_VAR", "LANDINGS", "arm", "at_write", "before_write", "landing", "write_started",
           "write_ended"]

ENV_VAR = "GALPRIOR_FAULT_PLAN"
#: Where a kill can land, in the order of a job's life.
LANDINGS = ("imports", "computation", "write", "after-outputs")
POLL_S = 0.01  # s between checks while a timed kill waits for its landing
_SIGNAL = signal.SIGUSR1
_ATOMIC_FILE = str(Path(__file__).with_name("atomic.py"))

_state: dict = {}
# atomic writes in progress in this process (galprior.store.atomic.atomic_target counts
# them): a store written part by part fills its temporary in the caller's own frames, so
# the stack alone does not show that a write is under way
_open_writes = [0]


def write_started() -> None:
    """Called by ``atomic_target`` when its temporary exists and is about to be filled."""
    _open_writes[0] += 1


def write_ended() -> None:
    """Called by ``atomic_target`` when its temporary is renamed into place or removed."""
    _open_writes[0] -= 1


def _stack(frame: FrameType | None) -> list[FrameType]:
    """The frames from ``frame`` outwards, outermost (the script's module) first."""
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames[::-1]


def _describe(frame: FrameType) -> str:
    return f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} in {frame.f_code.co_name}"


def landing(frame: FrameType | None) -> tuple[str, str]:
    """Where a job is when its main thread is at ``frame``: a name of :data:`LANDINGS`
    (but ``after-outputs``, which only the exit hook knows) and a description.

    ``write`` when an atomic write is under way (``atomic_target`` open, or ``atomic_write``
    on the stack: whatever it calls, a lazy import included); ``imports`` when the script's module-level code is inside an import
    statement (the frame it called is the import machinery); ``computation`` otherwise.
    The description names the script line and the innermost frame outside this module.
    """
    frames = [f for f in _stack(frame) if f.f_code.co_filename != __file__]
    if not frames:
        return "computation", "?"
    if _open_writes[0] > 0 or any(f.f_code.co_filename == _ATOMIC_FILE
                                  and f.f_code.co_name in ("atomic_write", "atomic_target")
                                  for f in frames):
        kind = "write"
    elif len(frames) > 1 and frames[1].f_code.co_filename.startswith("<frozen importlib"):
        kind = "imports"
    else:
        kind = "computation"
    return kind, f"{_describe(frames[0])}; innermost {_describe(frames[-1])}"


def _kill(kind: str, where: str) -> None:
    """Write the marker of this attempt, then SIGKILL this process and its descendants.

    The descendants (worker processes) go first, as a cluster's pre-emption kills every
    process of a job (its cgroup) at once.
    """
    marker = Path(_state["marker"])
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"aim": _state["aim"], "landing": kind, "where": where}))
    for pid in _descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os.kill(os.getpid(), signal.SIGKILL)


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


def _signal_main_thread_after(delay: float) -> None:
    """Interrupt the main thread after ``delay`` s (its handler decides whether to kill)."""
    main = threading.main_thread().ident
    timer = threading.Timer(delay, signal.pthread_kill, args=(main, _SIGNAL))
    timer.daemon = True
    timer.start()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """In the main thread: kill now if the job is where the point aims, else look again."""
    kind, where = landing(frame)
    if kind != _state["aim"]:
        _signal_main_thread_after(POLL_S)
        return
    _kill(kind, where)


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
    aim = point["aim"]
    if aim not in LANDINGS:
        raise ValueError(f"{plan_path}: job {job}: aim {aim!r} is not one of {LANDINGS}")
    _state.update(marker=str(state_dir / f"{prefix}.kill-{attempt}"), writes=0, aim=aim,
                  at_write=point.get("at_write") if aim == "write" else None)
    if aim in ("imports", "computation"):
        signal.signal(_SIGNAL, _on_signal)
        _signal_main_thread_after(float(point.get("after_s", 0.0)) if aim == "computation"
                                  else 0.0)
    atexit.register(lambda: _kill("after-outputs", "at exit (the script had finished)"))


def before_write(path: Path) -> None:
    """Called by ``atomic_write`` before it writes anything of ``path``: a kill aimed
    mid-computation whose time has not come comes now, at the end of the computation."""
    if _state.get("aim") != "computation":
        return
    frames = [f for f in _stack(sys._getframe()) if f.f_code.co_filename not in (__file__, _ATOMIC_FILE)]
    where = _describe(frames[0]) if frames else "?"
    _kill("computation", f"{where}; before the atomic write of {Path(path).name} "
                         f"(its first; the point's time was not reached)")


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
    kind, where = landing(sys._getframe())
    _kill(kind, f"{where} (temporary {tmp.name} cut to half)")
