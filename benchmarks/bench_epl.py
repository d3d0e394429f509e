"""Benchmark: forward + backward of the EPL deflection, this tree against a git revision.

16 lenses (axis ratios spread over [0.2, 1], slopes in [1.7, 2.4]) on a shared 256^2
grid, float32, gradients with respect to all six lens parameters. The reference is
``src/galprior/lensing/func/epl.py`` as of ``--rev`` (default ``HEAD``), written to a
temporary directory by ``git show`` and imported from there. Prints the best of
``--repeat`` times,
their ratio, the series lengths (this tree sums each lens with its own count; before
this, every lens of a batch took the flattest one's) and the largest relative difference
of the gradients.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_epl.py [--threads 1] [--rev HEAD]``
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Callable

import torch

from galprior.lensing.func import epl as epl_new

log = logging.getLogger("bench_epl")

N_LENS, N_PIX, PIXEL_SCALE = 16, 256, 0.04
MODULE_PATH = "src/galprior/lensing/func/epl.py"


def load_revision(rev: str, directory: Path) -> ModuleType:
    """The EPL module as of git revision ``rev``, imported from a copy in ``directory``."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(["git", "show", f"{rev}:{MODULE_PATH}"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    path = directory / "epl_reference.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("epl_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def make_lenses(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Grid (256, 256) and six parameters of shape (16, 1, 1), float32, requiring grad."""
    gen = torch.Generator().manual_seed(seed)
    c = (torch.arange(N_PIX) - (N_PIX - 1) / 2) * PIXEL_SCALE
    y, x = torch.meshgrid(c, c, indexing="ij")

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(N_LENS, 1, 1, generator=gen)

    params = [uniform(1.0, 1.6), uniform(1.7, 2.4), torch.linspace(0.2, 1.0, N_LENS).reshape(-1, 1, 1),
              uniform(0.0, 3.1), uniform(-0.1, 0.1), uniform(-0.1, 0.1)]
    return x, y, [p.requires_grad_() for p in params]


def forward_backward(deflection: Callable, x, y, params, **kw) -> list[torch.Tensor]:
    ax, ay = deflection(x, y, *params, **kw)
    return list(torch.autograd.grad(ax.sum() + ay.sum(), params))


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)  # the least disturbed run: the machine is shared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rev", default="HEAD", help="git revision of the reference epl.py")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    torch.set_num_threads(args.threads)

    x, y, params = make_lenses()
    with tempfile.TemporaryDirectory() as tmp:
        old = load_revision(args.rev, Path(tmp))
    counts = [epl_new.epl_n_terms(float(q), torch.float32) for q in params[2].detach().flatten()]
    own = [count + epl_new._DERIVATIVE_TERMS for count in counts]  # what this tree sums per lens
    log.info("%d lenses x %d^2 pixels, float32, %d thread(s); series terms: %d for every lens with the "
             "flattest lens's count, %.1f on average (%d at most) with each lens's own",
             N_LENS, N_PIX, args.threads, max(counts), sum(own) / len(own), max(own))

    g_old = forward_backward(old.epl_deflection, x, y, params)
    g_new = forward_backward(epl_new.epl_deflection, x, y, params)
    rel = max(float((a - b).abs().max() / b.abs().max()) for a, b in zip(g_new, g_old))
    log.info("max |gradient difference| / max |gradient|, per parameter: %.2e", rel)

    t_old = best_ms(lambda: forward_backward(old.epl_deflection, x, y, params), args.repeat)
    t_new = best_ms(lambda: forward_backward(epl_new.epl_deflection, x, y, params), args.repeat)
    with torch.no_grad():
        f_old = best_ms(lambda: old.epl_deflection(x, y, *params), args.repeat)
        f_new = best_ms(lambda: epl_new.epl_deflection(x, y, *params), args.repeat)
    log.info("forward+backward: %s %.0f ms, this tree %.0f ms: %.2fx faster", args.rev, t_old, t_new, t_old / t_new)
    log.info("forward, no grad: %s %.0f ms, this tree %.0f ms: %.2fx faster", args.rev, f_old, f_new, f_old / f_new)


if __name__ == "__main__":
    main()
