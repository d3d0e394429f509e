"""Benchmark: the Nguyen 2025 deblender's learning curve in the training-set size (issue 33).

Trains trainings 1 and 2 of the quick default (its epochs, batch, learning rate, colour
head) on the first ``m × nguyen.blends.sizes.lsst.train`` LSST blends for each ``--multiples``
``m`` (1, 3, 10: 2,700, 8,100 and 27,000 blends), and measures on the same validation
blends (``nguyen.blends.sizes.lsst.val``, eq. 9 constants of each training set) the
training-2 reconstructions' mean SSIM and cosine similarity (eqs. 10-11, as
``deblending_metrics.csv``) and their RMS ellipticity error (eqs. 12-13, W = 1). Then it fits
``log(1 - metric) = a + b log N`` (and ``log RMS`` likewise) over the sizes, extrapolates to
the report's 180,000 blends, and solves for the size where SSIM reaches 0.93 and cosine
0.985 (the report's Fig. 13). Two sizes make a line through two points: an extrapolation
over 20x in N, to read as an order of magnitude.

The blends are drawn with the pipeline's functions (chunks seeded by index, so the first
2,700 of the 8,100 are the quick default's) and cached in ``--workdir``; a size already
trained is read back. CPU-heavy: 1x takes about 2.5 min of one core, 3x about 8 min plus
2 min of blends, 10x about 25 min plus 7 min.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_learning_curve.py [--multiples 1 3 10] [--workdir /tmp/lc]``
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from galprior.config import schema_defaults
from galprior.data.blends import prepare_blend_shard
from galprior.data.normalisation import mean_band_maxima, normalise
from galprior.metrics.deblending import cosine_similarity, ellipticity_rmse, ssim
from galprior.models.deblender import evaluation as ev
from galprior.models.deblender.products import train_vae_stage
from galprior.models.registry import load_model
from galprior.store import BlendSet

PAPER_SIZE = 180_000
TARGETS = {"ssim": 0.93, "cosine": 0.985}
SEED = schema_defaults()["seed"]  # the rules' offsets: blends + 20, training 1 + 21, training 2 + 22

logger = logging.getLogger("bench_learning_curve")


def blends(nguyen: dict, split: str, n: int, workdir: Path) -> BlendSet:
    """The first ``n`` LSST blends of ``split`` (one shard, cached in ``workdir``)."""
    path = workdir / f"lsst_{split}_{n}.zarr"
    if path.exists():
        return BlendSet.load(path)
    cfg = copy.deepcopy(nguyen)
    cfg["blends"]["sizes"]["lsst"][split] = n
    cfg["blends"]["n_shards"] = 1
    shard = prepare_blend_shard(cfg, "lsst", split, 0, seed=SEED + 20, progress=True)
    shard.save(path, seed=SEED + 20, config=cfg)
    return BlendSet.load(path)


def with_constants(part: BlendSet, scale: list[float]) -> BlendSet:
    part.attrs.update(band_scale=scale, shard=None)
    return part


def train_size(nguyen: dict, train: BlendSet, val: BlendSet, out: Path) -> dict[str, Path]:
    """Trainings 1 and 2 on ``train`` (skipped when ``out`` already holds them)."""
    dirs = {stage: out / stage for stage in ("t1", "t2")}
    for stage in ("t1", "t2"):
        if not (dirs[stage] / "weights.pt").exists():
            history = train_vae_stage(stage, train, val, nguyen, SEED + (21 if stage == "t1" else 22), out / f"checkpoint_{stage}",
                                      dirs[stage], torch.device("cpu"), vae1_dir=dirs["t1"])
            history.to_csv(dirs[stage] / "history.csv", index=False)
    return dirs


def evaluate(nguyen: dict, val: BlendSet, t2_dir: Path) -> dict[str, float]:
    """Mean SSIM and cosine (eq. 9 units) and the RMS ellipticity error of the t2 reconstructions."""
    scale, beta = np.asarray(val.attrs["band_scale"]), val.attrs["normalisation_beta"]
    model = load_model(t2_dir, family="nguyen_vae")
    x, truth = normalise(val.blend, scale, beta), normalise(val.clean, scale, beta)
    recon, _, _ = ev.reconstruct(model, x, nguyen["training"]["batch_size"], torch.device("cpu"))
    band = [b.lower() for b in val.attrs["bands"]].index(val.attrs["ellipticity_band"].lower())
    e = ev.reconstruction_ellipticity(recon, scale, beta, band)
    return {"ssim": float(np.nanmean(ssim(recon, truth, data_range=1.0))),
            "cosine": float(np.nanmean(cosine_similarity(recon, truth))),
            "e_rmse": ellipticity_rmse(e, val.e_moments)}


def power_law(sizes: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Least-squares ``log values = a + b log sizes``; returns (a, b)."""
    b, a = np.polyfit(np.log(sizes), np.log(values), 1)
    return float(a), float(b)


def extrapolate(table: pd.DataFrame) -> dict[str, float]:
    """Values at the report's size and the sizes where SSIM / cosine reach the report's."""
    n = table["n_train"].to_numpy(float)
    out: dict[str, float] = {}
    for metric in ("ssim", "cosine"):
        a, b = power_law(n, 1.0 - table[metric].to_numpy(float))
        out[f"{metric}_exponent"] = b
        out[f"{metric}_at_{PAPER_SIZE}"] = 1.0 - math.exp(a + b * math.log(PAPER_SIZE))
        gap = 1.0 - TARGETS[metric]
        out[f"n_for_{metric}_{TARGETS[metric]}"] = math.exp((math.log(gap) - a) / b) if b < 0 else math.inf
    a, b = power_law(n, table["e_rmse"].to_numpy(float))
    out["e_rmse_exponent"] = b
    out[f"e_rmse_at_{PAPER_SIZE}"] = math.exp(a + b * math.log(PAPER_SIZE))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--multiples", type=int, nargs="+", default=[1, 3, 10], help="training sizes, in quick-default units")
    parser.add_argument("--workdir", type=Path, default=Path("learning_curve"), help="cache of blends and models")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    nguyen = schema_defaults()["nguyen"]
    args.workdir.mkdir(parents=True, exist_ok=True)
    base = nguyen["blends"]["sizes"]["lsst"]["train"]
    largest = blends(nguyen, "train", base * max(args.multiples), args.workdir)
    val_raw = blends(nguyen, "val", nguyen["blends"]["sizes"]["lsst"]["val"], args.workdir)
    rows = []
    for m in sorted(args.multiples):
        n = base * m
        train = largest.subset(np.arange(n)) if n < len(largest) else largest
        scale = mean_band_maxima(train.blend).tolist()
        train, val = with_constants(train, scale), with_constants(copy.deepcopy(val_raw), scale)
        dirs = train_size(nguyen, train, val, args.workdir / f"models_{n}")
        row = {"multiple": m, "n_train": len(train), **evaluate(nguyen, val, dirs["t2"])}
        logger.info("%s", row)
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(args.workdir / "learning_curve.csv", index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if len(table) >= 2:
        fit = extrapolate(table)
        (args.workdir / "extrapolation.json").write_text(json.dumps(fit, indent=2))
        for key, value in fit.items():
            print(f"  {key:28s} {value:.4g}")


if __name__ == "__main__":
    main()
