"""E0 of issue 32: what the existing stores say about the mock recipe and the fitted s.

From a finished run (the quick default's stores), per system and noise level:

* the zoom of :func:`galprior.lensing.mocks.fill_stamp` (the factor by which the test
  galaxy was shrunk into the central ``fill_fraction`` of its stamp), recomputed from the
  test galaxy, against the MAP's ``s_fit / s_true``: the mock galaxy spans ~zoom of the
  stamp [-s_true, s_true] while a decoded galaxy fills most of its own, so ``s_fit / s_true``
  tracks the zoom when the mocks' s and the model's s are different quantities;
* the floor of the mock source (median of the pixels outside the circle holding 99 % of
  its flux but inside the shrunk stamp, relative to the peak: a positive floor is clipped
  denoised noise, ending in a square edge) against the
  decoder's background at the MAP (the same statistic of the decoded source);
* s in prior-whitened units, ``(s - mean) / sd`` of the configured prior, for the truth
  and the MAP: how far the search had to move.

Run: ``.venv/bin/python benchmarks/chianese_e0.py --results results``
"""

from __future__ import annotations

import argparse

import numpy as np

from galprior.config import load_config
from galprior.lensing.mocks import _flux_radius, clean_source_image, fill_zoom
from galprior.models.vae.source_model import load_source_model
from galprior.store import GalaxySet, MapResultSet, MockLensSet


def floor(image: np.ndarray, half_side: float | None = None) -> float:
    """Median of the pixels outside the circle holding 99 % of the flux (and inside the
    central square of ``half_side`` pixels, the shrunk galaxy stamp, if given), over the peak."""
    img = np.asarray(image, np.float64)
    radius = _flux_radius(img, 0.99)
    rows, cols = np.indices(img.shape)
    total = np.clip(img, 0, None).sum()
    cy, cx = (rows * np.clip(img, 0, None)).sum() / total, (cols * np.clip(img, 0, None)).sum() / total
    outside = np.hypot(rows - cy, cols - cx) > radius
    if half_side is not None:
        centre = (img.shape[0] - 1) / 2
        outside &= (np.abs(rows - centre) < half_side) & (np.abs(cols - centre) < half_side)
    return float(np.median(img[outside]) / img.max()) if outside.any() else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--configfile", nargs="+", default=["config/config.yaml"])
    args = ap.parse_args()
    import torch

    config = load_config(*args.configfile)
    mocks = MockLensSet.load(f"{args.results}/lenses/chianese_mocks.zarr")
    fits = MapResultSet.load(f"{args.results}/inference/chianese_map.zarr")
    test = GalaxySet.open(f"{args.results}/galaxies/{config['galaxies']['source']}/chianese/test.zarr")
    source = load_source_model(f"{args.results}/models/vae", f"{args.results}/models/vae/latent_prior.npz")
    mean, sd = config["priors"]["scale"][:2]
    fill = mocks.attrs["fill_fraction"]
    names = list(mocks.attrs["source_parameter_names"])
    j = names.index("scale")
    print(f"s prior N({mean}, {sd}); fill_fraction {fill:.3f}")
    print("system  zoom  s_true  whitened | per level: s_fit/s_true (whitened s_fit) | source floor  "
          "decoder floor at the MAP (per level)")
    for s in range(len(mocks)):
        zoom = fill_zoom(clean_source_image(test.images[mocks.galaxy_index[s]]), fill)
        s_true = mocks.source_parameters[s, j]
        ratios = " ".join(f"{fits.source_parameters[s, lev, j] / s_true:5.2f} ({(fits.source_parameters[s, lev, j] - mean) / sd:+5.1f})"
                          for lev in range(len(mocks.noise_sigma)))
        with torch.no_grad():
            decoded = source.decoder(torch.as_tensor(fits.latents[s], dtype=torch.float32)).numpy()
        dec_floor = " ".join(f"{floor(decoded[lev].reshape(decoded.shape[-2:])):+.4f}" for lev in range(len(decoded)))
        print(f"{s:6d} {zoom:5.2f} {s_true:6.2f} {(s_true - mean) / sd:+6.1f} | {ratios} | "
              f"{floor(mocks.sources[s], zoom * mocks.sources.shape[-1] / 2 - 1):+.4f} | {dec_floor}")


if __name__ == "__main__":
    main()
