"""Benchmark: blends generated per second per process, and training images per second.

Times, in one process:

- **BTK's own generator**: ``CatsimGenerator`` with BTK's ``DefaultSampling`` (random
  centres), LSST, ``stamp_pixels``² stamps, noise on, ``njobs=1``, one batch of ``--blends``;
- **ours**: :func:`galprior.data.blends.draw_chunk` on the same catalogue and survey —
  the same BTK generator with the brightest-centred sampling function, plus what the
  Nguyen data need beyond it (the noisy isolated centre galaxy and the moment labels);
- **training**: forward + backward + Adam step of the training-1 VAE on batches of
  normalised ``6 × stamp_pixels²`` images (images per second), with ``--threads`` torch threads;

and prints the ratios (ours / BTK, training / generation), i.e. how many generator
processes would keep one trainer fed. Defaults of the blends come from the schema.

The generator comparison is paired and repeated: one warm-up draw of each (imports,
GalSim's caches, the first BTK batch), then ``--pairs`` pairs (at least 5) timed back to
back in alternating order (BTK then ours, ours then BTK, ...), so that drift in the
machine's load falls on both sides; each pair gives a ratio ours / BTK and the benchmark
prints their median and range (a machine shared with other jobs moves single timings by
tens of per cent). Every timing draws fresh blends (a new seed per repeat).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_blends.py [--blends 100] [--pairs 5] [--threads 1]``
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import btk
import torch

from galprior.config import schema_defaults
from galprior.data.blends import blend_settings, draw_chunk, get_survey, stamp_size_arcsec
from galprior.data.catsim import draw_catsim_catalogue
from galprior.models.deblender.network import DeblenderVAE, beta_vae_loss


def bench_btk(catalogue, n: int, stamp_pixels: int, max_number: int, max_shift: float, max_mag: float, seed: int = 1) -> float:
    """Blends per second of BTK's generator with its own sampling (one batch of ``n``)."""
    survey = get_survey("lsst")
    sampling = btk.sampling_functions.DefaultSampling(stamp_size=stamp_size_arcsec(survey, stamp_pixels), max_number=max_number,
                                                      min_number=1, max_shift=max_shift, seed=seed, max_mag=max_mag, mag_name="r_ab")
    generator = btk.draw_blends.CatsimGenerator(btk.catalog.CatsimCatalog(catalogue), sampling, survey, batch_size=n, njobs=1,
                                                add_noise="all", seed=seed + 1)
    t0 = time.perf_counter()
    next(generator)
    return n / (time.perf_counter() - t0)


def bench_ours(catalogue, n: int, settings, chunk: int = 0) -> float:
    """Blends per second of :func:`draw_chunk` (one chunk of ``n``; ``chunk`` seeds it)."""
    settings = dataclasses.replace(settings, chunk_size=n)
    t0 = time.perf_counter()
    draw_chunk(catalogue, "lsst", "train", chunk, 3, settings)
    return n / (time.perf_counter() - t0)


def paired_ratios(time_a, time_b, pairs: int) -> tuple[list[float], list[float], list[float]]:
    """Rates of ``time_a(k)`` and ``time_b(k)`` over ``pairs`` pairs in alternating order,
    after one warm-up call of each; returns (rates a, rates b, ratios a / b per pair)."""
    if pairs < 5:
        raise ValueError(f"at least 5 pairs make a median, got {pairs}")
    time_a(0), time_b(0)  # warm-up, not kept
    rates_a, rates_b = [], []
    for k in range(1, pairs + 1):
        if k % 2:
            rates_a.append(time_a(k)), rates_b.append(time_b(k))
        else:
            rates_b.append(time_b(k)), rates_a.append(time_a(k))
    return rates_a, rates_b, [a / b for a, b in zip(rates_a, rates_b)]


def bench_training(stamp_pixels: int, latent_dim: int, batch_size: int, steps: int) -> float:
    model = DeblenderVAE(bands=6, stamp_pixels=stamp_pixels, latent_dim=latent_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch_size, 6, stamp_pixels, stamp_pixels)

    def step():
        recon, mu, log_var = model(x)
        loss, _, _ = beta_vae_loss(recon, x, mu, log_var, 1e-3)
        optimizer.zero_grad()
        loss.mean().backward()
        optimizer.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - t0)


def main() -> None:
    defaults = schema_defaults()["nguyen"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blends", type=int, default=100, help="blends per timing")
    parser.add_argument("--pairs", type=int, default=5, help="alternating BTK/ours pairs timed (>= 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the training timing")
    parser.add_argument("--steps", type=int, default=10, help="training steps timed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    b = defaults["blends"]
    settings = blend_settings(b)
    cat = defaults["catalogue"]
    catalogue = draw_catsim_catalogue(cat["n_galaxies"], cat["i_mag_min"], cat["i_mag_max"], seed=0)
    ours_rates, btk_rates, ratios = paired_ratios(
        lambda k: bench_ours(catalogue, args.blends, settings, chunk=k),
        lambda k: bench_btk(catalogue, args.blends, b["stamp_pixels"], b["max_galaxies"], b["max_shift"], b["max_mag"], seed=1 + 2 * k),
        args.pairs)
    btk_rate, ours = statistics.median(btk_rates), statistics.median(ours_rates)
    train = bench_training(b["stamp_pixels"], defaults["vae"]["latent_dim"], defaults["training"]["batch_size"], args.steps)
    print(f"LSST {b['stamp_pixels']}x{b['stamp_pixels']}, up to {b['max_galaxies']} galaxies, {args.blends} blends per timing, "
          f"{args.pairs} alternating pairs after a warm-up (medians)")
    print(f"  BTK CatsimGenerator + DefaultSampling : {btk_rate:8.1f} blends/s per process")
    print(f"  ours (BTK + centred + isolated + e)   : {ours:8.1f} blends/s per process")
    print(f"  ratio ours/BTK, median of {len(ratios)} pairs : {statistics.median(ratios):.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f}; per pair {', '.join(f'{r:.3f}' for r in ratios)})")
    print(f"  training 1 step ({args.threads} thread(s))      : {train:8.1f} images/s  "
          f"(= {train / ours:.1f} generator processes per trainer)")


if __name__ == "__main__":
    main()
