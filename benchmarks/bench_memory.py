"""Benchmark: peak memory (RSS) of the heaviest rules at 1x, 10x and 100x a small size.

For each rule below, synthetic inputs in the rule's real store layouts are written to a
scratch folder (chunk by chunk, in a process of their own) at every scale, then the
package function the rule's script calls runs in a fresh Python process, which reports
its own peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``):

- ``merge_blends``: :func:`galprior.data.blends.merge_blend_stores` of two training and
  two validation shards of LSST-like blends (6 bands, 45 x 45 pixels);
- ``train_deblender_vae``: training 1 (:func:`galprior.models.deblender.products.train_vae_stage`,
  one epoch) on the merged blends;
- ``train_flow_vae``: :func:`galprior.models.flowvae.products.train_flow_vae_on_galaxies`
  (one epoch) on Lanusse-product galaxies (128^2 stamps, 64^2 PSFs);
- ``train_score_model``: :func:`galprior.models.score.products.train_score_prior`
  (a few steps; the preparation pass and sigma_max run over the whole set) on
  Chianese-product stamps (64^2);
- ``infer_map``: :func:`galprior.inference.mocks.map_fit_mocks` of the mock lenses.

The models, and every setting that is not a count, are those of the CI preset (tiny
networks: one step takes milliseconds); the counts are ``small x scale`` entries (blends,
galaxies, systems). A table is printed: rule, scale, entries, peak RSS (MB), the ratio to
the 10x peak, and the seconds the run took. What grows with the data must not grow the
peak: from 10x to 100x it may grow by at most 1.5x (``--max-ratio``); the script exits
with status 1 when a rule exceeds it. docs/memory.md records a run of it.

``--paper-steps`` adds what the data do not set: the peak of one training step of each
paper-preset network (``config/presets/paper.yaml``: architecture and batch size) on the
CPU, in a fresh process each -- an upper bound of a GPU job's host memory, whose
activations live on the device.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_memory.py [--rules merge_blends ...]
[--scales 1 10 100] [--scratch /tmp/galprior-bench-memory] [--keep] [--paper-steps
[train_score_model=1 ...]]`` (``--rules`` with no name and ``--paper-steps``: the networks
alone).
(about 10 minutes on one core for every rule at the three scales; the scratch folder
holds a few GB while it runs and is deleted at the end unless ``--keep``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# Entries at scale 1 (blends, galaxies, systems): a 100x input is a few GB on disk at most.
SMALL = {"merge_blends": 128, "train_deblender_vae": 128, "train_flow_vae": 128, "train_score_model": 64,
         "infer_map": 1}
SEED = 3
# MAP: the CI preset's settings, fewer pixels, levels and steps (100 systems in minutes).
MAP_MOCKS = {"n_pix": 64, "pixel_scale": 0.16, "noise_sigma": [0.1]}
MAP_SETTINGS = {"n_restarts": 1, "n_candidates": 1, "screen_steps": 2, "n_steps_lens": 3, "n_steps_all": 3,
                "lbfgs_iterations": 2, "newton_rounds": 0, "extra_rounds": 0, "coarse_factor": 1}


def _config() -> dict:
    from galprior.config import load_config

    return load_config(REPO / "config" / "config.yaml", REPO / "config" / "presets" / "ci.yaml", check=False)


# -- synthetic inputs ---------------------------------------------------------------------------

def _blobs(rng: np.random.Generator, n: int, bands: int, size: int, amplitude: float) -> np.ndarray:
    """``n`` smooth elliptical Gaussian galaxies, ``(n, bands, size, size)`` float32, >= 0."""
    y, x = np.mgrid[0:size, 0:size] - (size - 1) / 2
    sx, sy = rng.uniform(1.5, 5.0, (2, n, 1, 1))
    dx, dy = rng.uniform(-2, 2, (2, n, 1, 1))
    shape = np.exp(-0.5 * (((x - dx) / sx) ** 2 + ((y - dy) / sy) ** 2))
    flux = amplitude * rng.uniform(0.2, 1.0, (n, bands, 1, 1))
    return (flux * shape[:, None]).astype(np.float32)


def _write_blends(path: Path, first: int, n: int, split: str, rng: np.random.Generator) -> None:
    """A BlendSet shard of ``n`` LSST-like blends with indices ``first...``, chunk by chunk."""
    from galprior.store import BlendSet, ENTRY_CHUNK

    def part(start: int, count: int) -> BlendSet:
        clean = _blobs(rng, count, 6, 45, 1000.0)
        noise = lambda: rng.normal(0.0, 20.0, clean.shape).astype(np.float32)  # noqa: E731
        return BlendSet(blend=clean * 1.3 + noise(), isolated=clean + noise(), clean=clean,
                        e_moments=rng.uniform(-0.5, 0.5, (count, 2)).astype(np.float32),
                        e_catalogue=rng.uniform(-0.5, 0.5, (count, 2)).astype(np.float32),
                        n_sources=rng.integers(1, 4, count).astype(np.int16),
                        magnitude=rng.uniform(20, 25, count).astype(np.float32),
                        redshift=rng.uniform(0, 3, count).astype(np.float32),
                        index=np.arange(start, start + count, dtype=np.int64),
                        attrs=dict(survey="lsst", split=split, bands=list("ugrizy"), pixel_scale=0.2, mag_band="r",
                                   ellipticity_band="r", normalisation_beta=2.5, band_scale=None,
                                   catalogue="embedded", shard=0, min_ellipticity=0.0))

    template = part(first, 1).save(path.with_name(path.name + ".template"))
    reader = BlendSet.open(template)
    with BlendSet.writer(path, n, template=reader, attrs=reader.attrs, seed=SEED) as out:
        for start in range(0, n, ENTRY_CHUNK):
            out.append(part(first + start, min(ENTRY_CHUNK, n - start)))
    shutil.rmtree(template)


def _write_galaxies(path: Path, n: int, stamp: int, psf: int, rng: np.random.Generator) -> None:
    """A GalaxySet of ``n`` noisy synthetic galaxies (``stamp``^2, PSF ``psf``^2), chunk by chunk."""
    import pandas as pd

    from galprior.store import ENTRY_CHUNK, GalaxySet

    def part(count: int) -> GalaxySet:
        noiseless = _blobs(rng, count, 1, stamp, 1.0)[:, 0]
        kernel = _blobs(rng, count, 1, psf, 1.0)[:, 0]
        props = pd.DataFrame({"ident": rng.integers(0, 2**40, count), "mag": rng.uniform(20, 25, count),
                              "half_light_radius": rng.uniform(0.1, 1, count),
                              "flux_radius": rng.uniform(0.1, 1, count), "redshift": rng.uniform(0, 3, count)})
        return GalaxySet(images=noiseless + rng.normal(0, 0.01, noiseless.shape).astype(np.float32),
                         noiseless=noiseless, psf=kernel / kernel.sum(axis=(1, 2), keepdims=True),
                         noise_variance=np.full(count, 1e-4, np.float32), pixel_scale=np.full(count, 0.03, np.float32),
                         properties=props, attrs={"source": "simulated", "product": "bench", "band": "F814W",
                                                  "image_unit": "1", "noiseless_is_truth": True})

    template = part(1).save(path.with_name(path.name + ".template"))
    reader = GalaxySet.open(template)
    with GalaxySet.writer(path, n, template=reader, attrs=reader.attrs, seed=SEED) as out:
        for start in range(0, n, ENTRY_CHUNK):
            out.append(part(min(ENTRY_CHUNK, n - start)))
    shutil.rmtree(template)


def build(rule: str, folder: Path, n: int) -> None:
    """The inputs of ``rule`` with ``n`` entries in ``folder``."""
    rng = np.random.default_rng([SEED, n])
    folder.mkdir(parents=True, exist_ok=True)
    if rule in ("merge_blends", "train_deblender_vae"):
        n_val = max(n // 4, 1)
        for split, total in (("train", n), ("val", n_val)):
            half = total // 2
            _write_blends(folder / f"{split}-0.zarr", 0, half, split, rng)
            _write_blends(folder / f"{split}-1.zarr", half, total - half, split, rng)
        if rule == "train_deblender_vae":
            _run_merge(folder)
    elif rule == "train_flow_vae":
        _write_galaxies(folder / "train.zarr", n, 128, 64, rng)
        _write_galaxies(folder / "val.zarr", max(n // 8, 4), 128, 64, rng)
    elif rule == "train_score_model":
        _write_galaxies(folder / "train.zarr", n, 64, 32, rng)
        _write_galaxies(folder / "val.zarr", 8, 64, 32, rng)
    elif rule == "infer_map":
        _build_map(folder, n, rng)
    else:
        raise ValueError(f"unknown rule {rule!r}; expected one of {sorted(SMALL)}")


def _build_map(folder: Path, n_systems: int, rng: np.random.Generator) -> None:
    import torch

    from galprior.lensing.priors import LensSourcePrior
    from galprior.lensing.products import chianese_mock_set
    from galprior.models.registry import save_model
    from galprior.models.vae import VAE
    from galprior.models.vae.latent_prior import fit_latent_prior_with_meta, save_latent_prior
    from galprior.store import GalaxySet

    config = _config()
    _write_galaxies(folder / "test.zarr", max(n_systems, 64), 64, 32, rng)  # >> latent_dim: a full-rank prior
    test = GalaxySet.open(folder / "test.zarr")
    torch.manual_seed(SEED)
    model = VAE(**config["chianese"]["vae"]["architecture"])  # untrained: memory, not quality
    save_model(model, folder / "vae")
    prior = fit_latent_prior_with_meta(model.eval(), test, covariance_scale=9.0)
    save_latent_prior(folder / "vae" / "latent_prior.npz", prior.mean, prior.covariance, prior.meta)
    options = {**config["chianese"]["mocks"], **MAP_MOCKS, "n_systems": n_systems, "require_detection": False}
    chianese_mock_set(test, prior=LensSourcePrior.from_config(config["priors"]), seed=SEED, **options).save(
        folder / "mocks.zarr", seed=SEED)


# -- the rules ------------------------------------------------------------------------------------

def _run_merge(folder: Path) -> None:
    from galprior.data.blends import merge_blend_stores
    from galprior.store import BlendSet

    merge_blend_stores([BlendSet.open(folder / f"train-{k}.zarr") for k in (0, 1)],
                       [BlendSet.open(folder / f"val-{k}.zarr") for k in (0, 1)],
                       folder / "train.zarr", folder / "val.zarr")


def run(rule: str, folder: Path) -> None:
    """What the rule's script does, on the inputs in ``folder`` (outputs there too)."""
    import torch

    from galprior.store import BlendSet, GalaxySet

    config = _config()
    out = folder / "out"
    shutil.rmtree(out, ignore_errors=True)
    cpu = torch.device("cpu")
    if rule == "merge_blends":
        _run_merge(folder)
    elif rule == "train_deblender_vae":
        from galprior.models.deblender.products import train_vae_stage

        nguyen = json.loads(json.dumps(config["nguyen"]))
        nguyen["training"]["epochs"]["t1"] = 1
        nguyen["training"]["batch_size"] = 64
        train_vae_stage("t1", BlendSet.open(folder / "train.zarr"), BlendSet.open(folder / "val.zarr"), nguyen, SEED,
                        checkpoint_dir=out / "checkpoint", model_dir=out / "model", device=cpu)
    elif rule == "train_flow_vae":
        from galprior.models.flowvae.products import train_flow_vae_on_galaxies

        lanusse = config["lanusse"]
        training = {**lanusse["vae"]["training"], "epochs": 1}
        train_flow_vae_on_galaxies(GalaxySet.open(folder / "train.zarr"), GalaxySet.open(folder / "val.zarr"),
                                   image_size=lanusse["image_size"], architecture=lanusse["vae"]["architecture"],
                                   training=training, seed=SEED, checkpoint_dir=out / "checkpoint",
                                   model_dir=out / "model", device=cpu)
    elif rule == "train_score_model":
        from galprior.models.score.data import score_galaxies_from_product
        from galprior.models.score.products import train_score_prior

        adam = config["adam"]
        score = adam["score_model"]
        training = {**score["training"], "steps": 4, "checkpoint_every": 4, "batch_size": 16}
        sets = {split: score_galaxies_from_product(GalaxySet.open(folder / f"{split}.zarr"), split,
                                                   source_size=adam["source_size"], normalisation=adam["normalisation"])
                for split in ("train", "val")}
        train_score_prior(sets["train"].images, sets["val"].images, sigma_min=score["sigma_min"],
                          sigma_max=score["sigma_max"], architecture=score["architecture"], training=training,
                          normalisation=adam["normalisation"], seed=SEED, checkpoint_dir=out / "checkpoint",
                          model_dir=out / "model", device=cpu)
    elif rule == "infer_map":
        from galprior.inference.mocks import map_fit_mocks
        from galprior.inference.modes import map_config
        from galprior.lensing.priors import LensSourcePrior
        from galprior.models.vae.source_model import load_source_model
        from galprior.store import MockLensSet

        source = load_source_model(folder / "vae", folder / "vae" / "latent_prior.npz")
        chianese = {**config["chianese"], "map": {**config["chianese"]["map"], **MAP_SETTINGS}}
        result = map_fit_mocks(MockLensSet.load(folder / "mocks.zarr"), source,
                               LensSourcePrior.from_config(config["priors"]),
                               map_config(chianese, seed=SEED), device=cpu)
        result.save(out / "map.zarr", seed=SEED)
    else:
        raise ValueError(f"unknown rule {rule!r}; expected one of {sorted(SMALL)}")


# -- one step of the paper's networks ---------------------------------------------------------------

PAPER_MODELS = ("train_deblender_vae", "train_flow_vae", "train_score_model", "train_vae")


def paper_step(model_name: str, batch: int | None = None) -> None:
    """One training step of the paper preset's network for ``model_name``, on the CPU, at the
    preset's batch size or ``batch`` images."""
    import torch

    from galprior.config import load_config

    config = load_config(REPO / "config" / "config.yaml", REPO / "config" / "presets" / "paper.yaml", check=False)
    torch.manual_seed(SEED)
    if model_name == "train_deblender_vae":
        from galprior.models.deblender.network import DeblenderVAE, beta_vae_loss

        nguyen = config["nguyen"]
        pixels = nguyen["blends"]["stamp_pixels"]
        model = DeblenderVAE(bands=6, stamp_pixels=pixels, latent_dim=nguyen["vae"]["latent_dim"])
        x = torch.rand(batch or nguyen["training"]["batch_size"], 6, pixels, pixels)
        recon, mu, log_var = model(x)
        loss = beta_vae_loss(recon, x, mu, log_var, nguyen["vae"]["beta"])[0].mean()
    elif model_name == "train_flow_vae":
        from galprior.models.flowvae.network import FlowVAE

        lanusse = config["lanusse"]
        size, batch = lanusse["image_size"], batch or lanusse["vae"]["training"]["batch_size"]
        model = FlowVAE(image_size=size, **lanusse["vae"]["architecture"])
        psf = torch.zeros(batch, 64, 64)
        psf[:, 32, 32] = 1.0
        loss = model.loss(torch.randn(batch, size, size) * 0.01, psf, torch.full((batch, size, size), 1e-4 * size**2))
        loss = loss["loss"].mean()
    elif model_name == "train_score_model":
        from galprior.models.score.loss import dsm_loss
        from galprior.models.score.network import ScoreUNet

        adam = config["adam"]
        score = adam["score_model"]
        size = adam["source_size"]
        from galprior.models.score.products import network_architecture

        images = torch.rand(batch or score["training"]["batch_size"], size, size)
        model = ScoreUNet(image_size=size, sigma_min=score["sigma_min"], sigma_max=100.0,
                          **network_architecture(score["architecture"], images.numpy()))
        loss = dsm_loss(model, images)
    elif model_name == "train_vae":
        from galprior.models.vae import VAE

        vae = config["chianese"]["vae"]
        model = VAE(**vae["architecture"])
        size = vae["architecture"]["image_size"]
        loss = -model.elbo(torch.rand(batch or vae["training"]["batch_size"], 1, size, size), None,
                           vae["training"]["n_latent_samples"]).mean()
    else:
        raise ValueError(f"unknown network {model_name!r}; expected one of {PAPER_MODELS}")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss.backward()
    optimizer.step()


# -- the harness ----------------------------------------------------------------------------------

def _child(args: list[str]) -> dict:
    """Run this script with ``args`` in a fresh process; its JSON report."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", nargs="*", default=list(SMALL), choices=list(SMALL),
                        help="the data-path rules to measure (none: only --paper-steps)")
    parser.add_argument("--scales", nargs="+", type=int, default=[1, 10, 100])
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/galprior-bench-memory"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--max-ratio", type=float, default=1.5, help="largest allowed peak(100x) / peak(10x)")
    parser.add_argument("--paper-steps", nargs="*", metavar="NETWORK[=BATCH]",
                        help="also one training step of paper-preset networks on the CPU: every one at "
                             f"its preset batch size when given no value, else these ({', '.join(PAPER_MODELS)}), "
                             "each at its preset batch or BATCH images")
    parser.add_argument("--child", choices=["build", "run", "paper"], help=argparse.SUPPRESS)
    parser.add_argument("--rule", help=argparse.SUPPRESS)
    parser.add_argument("--entries", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one measurement, in this fresh process
        import logging

        logging.basicConfig(level=logging.WARNING)
        started = time.perf_counter()
        folder = args.scratch / f"{args.rule}-{args.entries}"
        if args.child == "build":
            build(args.rule, folder, args.entries)
        elif args.child == "paper":
            import torch

            torch.set_num_threads(1)
            paper_step(args.rule, args.batch)
        else:
            import torch

            torch.set_num_threads(1)
            run(args.rule, folder)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB
        print(json.dumps({"peak_mb": peak_mb, "seconds": time.perf_counter() - started}))
        return

    rows = []
    try:
        for rule in args.rules:
            for scale in args.scales:
                n = SMALL[rule] * scale
                common = ["--rule", rule, "--entries", str(n), "--scratch", str(args.scratch)]
                _child(["--child", "build", *common])
                report = _child(["--child", "run", *common])
                shutil.rmtree(args.scratch / f"{rule}-{n}", ignore_errors=True) if not args.keep else None
                rows.append((rule, scale, n, report["peak_mb"], report["seconds"]))
                print(f"  {rule} x{scale} ({n} entries): {report['peak_mb']:.0f} MB, {report['seconds']:.1f} s",
                      file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(args.scratch, ignore_errors=True)

    print(f"{'rule':<22} {'scale':>5} {'entries':>8} {'peak RSS MB':>12} {'/ 10x':>7} {'s':>7}")
    failed = []
    for rule, scale, n, peak, seconds in rows:
        ten = next((p for r, s, _, p, _ in rows if r == rule and s == 10), None)
        ratio = peak / ten if ten else float("nan")
        print(f"{rule:<22} {scale:>5} {n:>8} {peak:>12.0f} {ratio:>7.2f} {seconds:>7.1f}")
        if scale == 100 and ten and ratio > args.max_ratio:
            failed.append(f"{rule}: {ratio:.2f}")
    if args.paper_steps is not None:
        print(f"\n{'paper network, one step':<28} {'batch':>7} {'peak RSS MB':>12} {'s':>7}")
        for spec in args.paper_steps or PAPER_MODELS:
            name, _, batch = spec.partition("=")
            if name not in PAPER_MODELS:
                parser.error(f"--paper-steps {spec!r}: expected NETWORK[=BATCH], NETWORK one of {PAPER_MODELS}")
            extra = ["--batch", batch] if batch else []
            report = _child(["--child", "paper", "--rule", name, "--entries", "0", "--scratch", str(args.scratch),
                             *extra])
            print(f"{name:<28} {batch or 'preset':>7} {report['peak_mb']:>12.0f} {report['seconds']:>7.1f}",
                  flush=True)
    if failed:
        print(f"peak at 100x above {args.max_ratio} x the 10x peak: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
