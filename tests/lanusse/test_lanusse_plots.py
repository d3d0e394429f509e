"""Lanusse figures: the layout keeps every label inside the figure."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from galprior.plots.lanusse import fig1_samples  # noqa: E402


def test_fig1_row_labels_lie_inside_the_figure():
    rng = np.random.default_rng(0)
    n = 4
    images = {name: rng.normal(size=(n, 16, 16)) for name in
              ("cosmos", "parametric", "flowvae_random", "flowvae", "flowvae_profile")}
    samples = SimpleNamespace(**images, noise_sigma=np.ones(n), properties=pd.DataFrame(
        {"mag": np.full(n, 23.0), "half_light_radius": np.linspace(0.1, 0.5, n)}))
    fig = fig1_samples(samples, n)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    labels = [ax.yaxis.label for ax in fig.axes if ax.get_ylabel()]
    assert len(labels) == 5  # one per row
    for label in labels:
        box = label.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= width and box.y0 >= 0 and box.y1 <= height, label
