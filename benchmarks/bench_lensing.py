"""Benchmark: lensed 256^2 image of a 64^2 pixelated source by EPL + external shear.

Times forward and forward+backward (gradients w.r.t. the 8 lens parameters and the
4,096 source pixels) in float32 for ``galprior.lensing.LensSimulator``, caustics
(``EPL`` + ``ExternalShear`` in a ``SinglePlane``, ``Pixelated`` source,
``LensSource``) and lenstronomy (``LensModel.ray_shooting`` + bilinear
``scipy.ndimage.map_coordinates``; forward only, numpy float64), all with the same
number of torch threads, and prints the max |difference| between the images.

Run: ``.venv/bin/python benchmarks/bench_lensing.py [--threads 2] [--axis-ratio 0.6]``
(needs lenstronomy, from the ``bench`` extra, and caustics installed without its
dependency pins: ``pip install --no-deps caustics caskade graphviz``, because caustics
declares astropy>=7 while blending-toolkit pins astropy<7; it runs on astropy 6).
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from typing import Callable

import numpy as np
import torch

from galprior.config import schema_defaults
from galprior.device import resolve_device
from galprior.lensing import LensSimulator

log = logging.getLogger("bench_lensing")

N_PIX, PIXEL_SCALE, N_SRC = 256, 0.04, 64


def timeit(fn: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # GPU kernels run asynchronously: time their end
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def make_inputs(axis_ratio: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    lens = np.array([1.4, 2.1, axis_ratio, 0.5, 0.05, -0.04, 0.03, -0.02])
    # smooth random source: sum of a few Gaussian blobs on the unit square
    c = (np.arange(N_SRC) + 0.5) / N_SRC - 0.5
    yy, xx = np.meshgrid(c, c, indexing="ij")
    src = np.zeros((N_SRC, N_SRC))
    for _ in range(6):
        mx, my = rng.uniform(-0.15, 0.15, 2)
        sig = rng.uniform(0.03, 0.1)
        src += rng.uniform(0.3, 1.0) * np.exp(-0.5 * ((xx - mx) ** 2 + (yy - my) ** 2) / sig**2)
    source_params = np.array([1.0, 1.6, 0.06, 0.03])  # intensity, scale [arcsec], x_src, y_src
    return lens, src, source_params


def bench_ours(lens, src, sp, device):
    dt = torch.float32
    sim = LensSimulator(N_PIX, PIXEL_SCALE, dtype=dt).to(device)
    lp = torch.tensor(lens, dtype=dt, device=device)[None].requires_grad_()
    s = torch.tensor(src, dtype=dt, device=device)[None].requires_grad_()
    spt = torch.tensor(sp, dtype=dt, device=device)[None]

    def fwd():
        with torch.no_grad():
            return sim(lp, s, spt, validate=False)

    def fwd_bwd():
        img = sim(lp, s, spt, validate=False)
        gl, gs = torch.autograd.grad(img.sum(), (lp, s))
        return gl, gs

    return fwd, fwd_bwd, fwd()[0].cpu().numpy()


def bench_caustics(lens, src, sp, device):
    import caustics

    dt = torch.float32
    r, g, q, phi, x0, y0, g1, g2 = (float(v) for v in lens)
    cosmo = caustics.FlatLambdaCDM(name="cosmo")
    epl = caustics.EPL(cosmology=cosmo, z_l=0.5, z_s=1.0, x0=x0, y0=y0, q=q, phi=phi, Rein=r, t=g - 1.0, name="epl")
    shear = caustics.ExternalShear(cosmology=cosmo, z_l=0.5, z_s=1.0, x0=0.0, y0=0.0, gamma_1=g1, gamma_2=g2, name="shear")
    lensmodel = caustics.SinglePlane(lenses=[epl, shear], cosmology=cosmo, z_l=0.5, z_s=1.0, name="lens")
    source = caustics.Pixelated(
        image=torch.tensor(src, dtype=dt), x0=float(sp[2]), y0=float(sp[3]),
        pixelscale=float(sp[1]) / N_SRC, scale=float(sp[0]), name="src",
    )
    sim = caustics.LensSource(lens=lensmodel, source=source, pixelscale=PIXEL_SCALE, pixels_x=N_PIX, name="sim")
    sim.to(dtype=dt, device=device)
    sim.to_static()
    for p in (epl.x0, epl.y0, epl.q, epl.phi, epl.Rein, epl.t, shear.gamma_1, shear.gamma_2, source.image):
        p.to_dynamic()
    params = [t.clone().detach().to(device).requires_grad_() for t in sim.get_values(scheme="list")]

    def fwd():
        with torch.no_grad():
            return sim(params)

    def fwd_bwd():
        img = sim(params)
        return torch.autograd.grad(img.sum(), params)

    return fwd, fwd_bwd, fwd().cpu().numpy()


def bench_lenstronomy(lens, src, sp):
    from lenstronomy.LensModel.lens_model import LensModel
    from scipy.ndimage import map_coordinates

    r, g, q, phi, x0, y0, g1, g2 = (float(v) for v in lens)
    e1, e2 = (1 - q) / (1 + q) * math.cos(2 * phi), (1 - q) / (1 + q) * math.sin(2 * phi)
    kwargs = [dict(theta_E=r, gamma=g, e1=e1, e2=e2, center_x=x0, center_y=y0), dict(gamma1=g1, gamma2=g2)]
    model = LensModel(["EPL", "SHEAR"])
    c = (np.arange(N_PIX) - (N_PIX - 1) / 2) * PIXEL_SCALE
    x, y = np.meshgrid(c, c, indexing="xy")

    def fwd():
        bx, by = model.ray_shooting(x, y, kwargs)
        col = (bx - sp[2]) / sp[1] * N_SRC + (N_SRC - 1) / 2
        row = (by - sp[3]) / sp[1] * N_SRC + (N_SRC - 1) / 2
        return sp[0] * map_coordinates(src, [row, col], order=1, mode="grid-constant", cval=0.0)

    return fwd, None, fwd()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default=schema_defaults()["device"], choices=["auto", "cpu", "cuda"])
    parser.add_argument("--axis-ratio", type=float, default=0.6)
    parser.add_argument("--repeat", type=int, default=10, help="calls per timing")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    lens, src, sp = make_inputs(args.axis_ratio)
    peers = {"galprior": bench_ours(lens, src, sp, device)}
    try:
        peers["caustics"] = bench_caustics(lens, src, sp, device)
    except ImportError:
        log.warning("caustics not installed; skipped")
    peers["lenstronomy"] = bench_lenstronomy(lens, src, sp)
    # Interleaved rounds so that a change of machine load hits every code alike;
    # the reported time is the median over rounds of the per-round median.
    rounds: dict[str, list[list[float]]] = {name: [[], []] for name in peers}
    for _ in range(args.rounds):
        for name, (fwd, fwd_bwd, _img) in peers.items():
            n = args.repeat if name != "lenstronomy" else max(2, args.repeat // 5)
            rounds[name][0].append(timeit(fwd, n, warmup=1))
            rounds[name][1].append(timeit(fwd_bwd, n, warmup=1) if fwd_bwd else float("nan"))
    results = {name: (float(np.median(r[0])), float(np.median(r[1])), peers[name][2]) for name, r in rounds.items()}
    ours = results["galprior"]
    log.info("256x256 image, 64x64 source, EPL(q=%.2f, gamma=%.2f)+shear, float32, %d threads, torch %s, "
             "device %s (lenstronomy: CPU)", args.axis_ratio, lens[1], args.threads, torch.__version__, device)
    log.info("%-12s %12s %16s %14s %18s %16s", "code", "forward ms", "fwd+bwd ms", "ours/peer fwd", "ours/peer fwd+bwd", "max|img-ours|")
    for name, (f, fb, img) in results.items():
        log.info("%-12s %12.2f %16.2f %14.3f %18.3f %16.2e", name, f, fb, ours[0] / f, ours[1] / fb,
                 float(np.abs(img - ours[2]).max()))
    log.info("image peak %.3f; lenstronomy is numpy float64 (forward only)", float(ours[2].max()))


if __name__ == "__main__":
    main()
